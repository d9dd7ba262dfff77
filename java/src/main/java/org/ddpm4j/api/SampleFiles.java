package org.ddpm4j.api;

import java.nio.file.Path;
import org.ddpm4j.image.PngFolder;

/**
 * The files {@link DiffusionModel#writeSamples} wrote; null for those not asked for.
 *
 * @param grid samples.png: the first images (at most 400) on a square grid
 * @param midGrid samples-t{@code midStep}.png: those images at the mid step
 * @param midStep the t of the mid grid, or -1
 * @param strip strip.png: a few images from x_T to x_0
 * @param pngFolder the folder of sample-00000.png ... (one file per image), or null
 * @param npz samples.npz: arr_0, uint8 count x height x width x channels
 * @param count images drawn
 * @param seconds wall time of the sampling, in seconds
 */
public record SampleFiles(Path grid, Path midGrid, int midStep, Path strip, Path pngFolder, Path npz, int count,
                          double seconds) {
    /** The file of image {@code i} in {@link #pngFolder}, or null when PNG files were not asked for. */
    public Path pngFile(int i) {
        return pngFolder == null ? null : pngFolder.resolve(PngFolder.name(i));
    }
}
