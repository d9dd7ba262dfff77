package org.ddpm4j.checkpoint;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Crash-safe file replacement: write {@code X.tmp}, fsync it, rename it over
 * {@code X} atomically, fsync the folder. A crash at any point leaves either the
 * old X or the new X, never a partial one.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes through {@code body}; the channel is positioned at 0 of an empty temp file. */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel ch) throws IOException;
    }

    public static Path tempFor(Path file) {
        return file.resolveSibling(file.getFileName() + ".tmp");
    }

    public static void write(Path file, Body body) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = tempFor(abs);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            body.write(ch);
            ch.force(true);
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(tmp);  // a full disk must not leave a partial (or 0-byte) .tmp behind
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        commit(tmp, abs);
    }

    /**
     * The end of a write that streamed into {@code tmp} (already fsynced): renames it over
     * {@code file} atomically and fsyncs the folder.
     */
    public static void commit(Path tmp, Path file) throws IOException {
        Path abs = file.toAbsolutePath();
        try {
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
        }
        if (abs.getParent() != null) fsyncDir(abs.getParent());
    }

    private static void fsyncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // some file systems cannot sync a folder; the rename itself is still atomic
        }
    }
}
