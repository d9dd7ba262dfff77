package org.ddpm4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Finds a CIFAR-10 folder: the explicit one, else $DDPM_CIFAR_DIR, the system
 * property {@code ddpm.cifar.dir}, {@code <ddpm.home>/../shared/data/cifar-10-batches-bin},
 * the download cache; and downloads it into the cache when allowed.
 *
 * @param download fetch the archive when no folder is found
 * @param url archive URL
 * @param md5 expected MD5 of the archive
 * @param cacheDir where downloads and the extracted folder go
 */
public record CifarLocator(boolean download, String url, String md5, Path cacheDir) {

    public static CifarLocator defaults() {
        return new CifarLocator(false, CifarDownloader.DEFAULT_URL, CifarDownloader.OFFICIAL_MD5,
                CifarDownloader.defaultCacheDir());
    }

    public Path locate(String explicit, Consumer<String> log) {
        if (explicit != null) {
            Path p = Path.of(explicit);
            if (!Files.isDirectory(p) && download) return downloader(log).ensure();
            return p;
        }
        List<Path> tried = new ArrayList<>(candidates());
        for (Path p : tried) if (Cifar10Reader.looksComplete(p)) return p;
        if (download) return downloader(log).ensure();
        List<String> shown = tried.stream().map(Path::toString).toList();
        throw new DataException("CIFAR-10 not found (looked in " + String.join(", ", shown)
                + "); pass --cifar-dir DIR, or --download to fetch it (about 170 MB)");
    }

    private CifarDownloader downloader(Consumer<String> log) {
        return new CifarDownloader(url, md5, cacheDir, log);
    }

    private Set<Path> candidates() {
        Set<Path> c = new LinkedHashSet<>();
        String env = System.getenv("DDPM_CIFAR_DIR");
        if (env != null && !env.isBlank()) c.add(Path.of(env));
        String prop = System.getProperty("ddpm.cifar.dir");
        if (prop != null && !prop.isBlank()) c.add(Path.of(prop));
        String home = System.getProperty("ddpm.home");
        if (home != null && !home.isBlank()) {
            c.add(Path.of(home).toAbsolutePath().normalize().resolveSibling("shared").resolve("data")
                    .resolve(CifarDownloader.FOLDER_NAME));
        }
        c.add(cacheDir.resolve(CifarDownloader.FOLDER_NAME));
        return c;
    }
}
