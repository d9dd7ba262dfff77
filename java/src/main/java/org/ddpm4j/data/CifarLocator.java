package org.ddpm4j.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

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

    /** The folder for the training split (see {@link #locate(String, Split, Consumer)}). */
    public Path locate(String explicit, Consumer<String> log) {
        return locate(explicit, Split.TRAIN, log);
    }

    /**
     * The explicit folder as given (the reader names what is wrong with it), else the
     * first candidate holding the files {@code split} needs (training needs no test
     * file), else the download; when nothing is found the message says what each
     * candidate lacks.
     */
    public Path locate(String explicit, Split split, Consumer<String> log) {
        return locate(explicit, split, List.copyOf(candidates()), log);
    }

    Path locate(String explicit, Split split, List<Path> candidates, Consumer<String> log) {
        if (explicit != null) {
            Path p = Path.of(explicit);
            if (!Files.exists(p) && download) return downloader(log).ensure();
            return p;
        }
        List<String> found = new ArrayList<>();
        for (Path p : candidates) {
            if (Cifar10Reader.missingFiles(p, split).isEmpty()) return p;
            found.add(describe(p, split));
        }
        if (download) return downloader(log).ensure();
        throw new DataException(SettingText.of("CIFAR-10 not found for the " + split.label() + " split ("
                + String.join("; ", found) + "); pass ", Setting.CIFAR_DIR, " DIR, or ", Setting.DOWNLOAD,
                " to fetch it (about 170 MB)"));
    }

    private static String describe(Path p, Split split) {
        if (!Files.exists(p)) return p + " does not exist";
        if (!Files.isDirectory(p)) return p + " is a file, not a folder";
        return p + " lacks " + String.join(", ", Cifar10Reader.missingFiles(p, split));
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
