package org.ddpm4j.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import javax.imageio.ImageIO;

/** Writes PNGs (headless AWT) through a temporary file and a rename, so a reader never sees half a file. */
public final class PngFiles {
    static {
        System.setProperty("java.awt.headless", "true");
    }

    private PngFiles() {}

    public static void write(BufferedImage img, Path file) throws IOException {
        write(img, file, true);
    }

    /**
     * @param durable fsync the file before the rename (a crash then leaves the old or the
     *     new file); without, a reader still never sees half a file, and writing thousands
     *     of small files (individual samples) is not held up by one disk flush each
     */
    public static void write(BufferedImage img, Path file, boolean durable) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                if (!ImageIO.write(img, "png", out)) throw new IOException("no PNG writer");
            }
            if (durable) {
                try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException | Error e) {
            try {
                Files.deleteIfExists(tmp);  // never leave a half-written .tmp behind (a full disk, say)
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }
}
