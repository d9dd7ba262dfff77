package org.ddpm4j.job;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * An output folder made ready before any work starts: a path that names a file, a
 * read-only file system or a folder that cannot be created is refused at once with the
 * reason, not after minutes of training or sampling. The folders this created are
 * removed again by {@link #removeIfUnused} when a run fails before writing anything, so
 * a failed command leaves no empty run folder behind.
 */
public final class OutputFolder {
    private final Path dir;
    private final List<Path> created;

    private OutputFolder(Path dir, List<Path> created) {
        this.dir = dir;
        this.created = created;
    }

    public Path dir() {
        return dir;
    }

    /** Creates {@code dir} (and missing parents) and checks a file can be written in it. */
    public static OutputFolder prepare(Path dir, String role) {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new IllegalArgumentException(role + " " + dir + " is a file, not a folder");
        }
        List<Path> created = new ArrayList<>();
        for (Path p = abs; p != null && !Files.exists(p); p = p.getParent()) created.add(0, p);
        try {
            for (Path p : created) {
                Path parent = p.getParent();
                if (parent != null && Files.exists(parent) && !Files.isDirectory(parent)) {
                    throw new IllegalArgumentException("cannot create " + role + " " + dir + ": " + parent + " is a file, not a folder");
                }
                Files.createDirectory(p);
            }
            Path probe = Files.createTempFile(abs, ".ddpm-write-check", ".tmp");
            Files.delete(probe);
        } catch (IOException e) {
            OutputFolder partial = new OutputFolder(abs, created);
            partial.removeIfUnused();
            throw new IllegalArgumentException("cannot write to " + role + " " + dir + ": " + reason(e), e);
        }
        return new OutputFolder(abs, created);
    }

    private static String reason(IOException e) {
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /**
     * Removes the folders {@link #prepare} created, innermost first, as long as they are empty (a
     * released run lock, {@link RunLock#FILE}, does not count).
     */
    public void removeIfUnused() {
        for (int i = created.size() - 1; i >= 0; i--) {
            Path p = created.get(i);
            if (!isEmptyDir(p)) return;
            try {
                Files.deleteIfExists(p.resolve(RunLock.FILE));
                Files.delete(p);
            } catch (IOException e) {
                return;
            }
        }
    }

    private static boolean isEmptyDir(Path p) {
        if (!Files.isDirectory(p)) return false;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(p, e -> !e.getFileName().toString().equals(RunLock.FILE))) {
            return !ds.iterator().hasNext();
        } catch (IOException e) {
            return false;
        }
    }
}
