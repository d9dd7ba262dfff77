package org.ddpm4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Gets CIFAR-10 for a user who has none: downloads {@code cifar-10-binary.tar.gz}
 * into a cache folder, checks its MD5, and extracts the binary files into
 * {@code <cache>/cifar-10-batches-bin}. A verified archive already in the cache
 * is not downloaded again. The URL and the expected MD5 are configurable.
 */
public final class CifarDownloader {
    public static final String DEFAULT_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    public static final String OFFICIAL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
    public static final String ARCHIVE_NAME = "cifar-10-binary.tar.gz";
    public static final String FOLDER_NAME = "cifar-10-batches-bin";

    private final String url;
    private final String md5;
    private final Path cacheDir;
    private final Consumer<String> log;

    public CifarDownloader(String url, String md5, Path cacheDir, Consumer<String> log) {
        this.url = url;
        this.md5 = md5.toLowerCase(Locale.ROOT);
        this.cacheDir = cacheDir;
        this.log = log;
    }

    /** The default cache: $XDG_CACHE_HOME/ddpm4j or ~/.cache/ddpm4j. */
    public static Path defaultCacheDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "ddpm4j");
        return Path.of(System.getProperty("user.home"), ".cache", "ddpm4j");
    }

    /** The extracted folder in the cache (it may not exist yet). */
    public Path folder() {
        return cacheDir.resolve(FOLDER_NAME);
    }

    /** Downloads and extracts when needed; returns the folder holding the CIFAR-10 binary files. */
    public Path ensure() {
        Path target = folder();
        if (Cifar10Reader.looksComplete(target)) return target;
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new DataException("cannot create the cache folder " + cacheDir + ": " + e.getMessage(), e);
        }
        Path archive = cacheDir.resolve(ARCHIVE_NAME);
        if (!Files.isRegularFile(archive) || !md5.equals(md5Of(archive))) download(archive);
        extract(archive, target);
        return target;
    }

    private void download(Path archive) {
        Path part = archive.resolveSibling(ARCHIVE_NAME + ".part");
        log.accept("downloading " + url + " to " + archive);
        MessageDigest digest = newMd5();
        try {
            URLConnection conn = URI.create(url).toURL().openConnection();
            conn.setConnectTimeout(30_000);
            conn.setReadTimeout(60_000);
            if (conn instanceof HttpURLConnection http) {
                http.setInstanceFollowRedirects(true);
                int code = http.getResponseCode();
                if (code != 200) throw new DataException("download of " + url + " failed: HTTP " + code);
            }
            long total = conn.getContentLengthLong();
            try (InputStream in = new DigestInputStream(conn.getInputStream(), digest);
                 OutputStream out = Files.newOutputStream(part)) {
                byte[] buf = new byte[1 << 16];
                long done = 0;
                int lastTenth = 0;
                for (int r; (r = in.read(buf)) >= 0; ) {
                    out.write(buf, 0, r);
                    done += r;
                    if (total > 0 && done * 10 / total > lastTenth) {
                        lastTenth = (int) (done * 10 / total);
                        log.accept("  " + (lastTenth * 10) + "% (" + done / (1 << 20) + " MiB)");
                    }
                }
            }
        } catch (DataException e) {
            throw e;
        } catch (IOException | IllegalArgumentException e) {
            deleteQuietly(part);
            throw new DataException("download of " + url + " failed: " + e, e);
        }
        String got = HexFormat.of().formatHex(digest.digest());
        if (!got.equals(md5)) {
            deleteQuietly(part);
            throw new DataException("download of " + url + " has MD5 " + got + ", expected " + md5 + " (corrupt or wrong file)");
        }
        try {
            Files.move(part, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new DataException("cannot move " + part + " to " + archive + ": " + e.getMessage(), e);
        }
    }

    private void extract(Path archive, Path target) {
        log.accept("extracting " + archive);
        Path tmp = target.resolveSibling(FOLDER_NAME + ".tmp");
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            Set<String> wanted = new HashSet<>(Cifar10Reader.allFiles());
            Set<String> got = TarGz.extract(archive, wanted, tmp);
            wanted.removeAll(got);
            if (!wanted.isEmpty()) {
                throw new DataException("archive " + archive + " lacks " + String.join(", ", wanted.stream().sorted().toList()));
            }
            deleteTree(target);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new DataException("cannot extract " + archive + ": " + e.getMessage(), e);
        }
    }

    static String md5Of(Path file) {
        MessageDigest d = newMd5();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), d)) {
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            return "";
        }
        return HexFormat.of().formatHex(d.digest());
    }

    private static MessageDigest newMd5() {
        try {
            return MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no MD5", e);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a stale partial download is overwritten next time
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
