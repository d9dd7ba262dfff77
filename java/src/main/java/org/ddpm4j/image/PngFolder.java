package org.ddpm4j.image;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Locale;
import org.ddpm4j.sample.ImageSink;
import org.ddpm4j.sample.Images;

/**
 * Writes every sampled image as its own PNG, {@code sample-00000.png}, {@code sample-00001.png},
 * ... (the index of the image in the run: the same seed gives the same file contents),
 * each through a temporary file and a rename but without a disk flush per file.
 */
public final class PngFolder implements ImageSink {
    private final Path dir;

    public PngFolder(Path dir) {
        this.dir = dir;
    }

    public static String name(int index) {
        return String.format(Locale.ROOT, "sample-%05d.png", index);
    }

    @Override
    public void accept(int first, Images chunk) {
        for (int k = 0; k < chunk.count(); k++) {
            Path f = dir.resolve(name(first + k));
            try {
                PngFiles.write(ImageGrid.render(chunk.slice(k, 1), 1, 0), f, false);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + f + ": " + e.getMessage(), e);
            }
        }
    }
}
