package org.ddpm4j.api;

import java.nio.file.Path;
import java.util.List;
import org.ddpm4j.checkpoint.Configs;
import org.ddpm4j.checkpoint.Weights;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNetConfig;

/**
 * What a loaded {@link DiffusionModel} is.
 *
 * @param source the file it was read from
 * @param checkpoint true for a ddpm4j checkpoint, false for a safetensors file
 * @param config the model's shape and noise schedule
 * @param parameters trainable parameters
 * @param timeTable the kind of its time-embedding table (STANDARD, NOTEBOOK, or IMPORTED with safetensors weights)
 * @param hasEma whether the file keeps an EMA of the weights
 * @param weights which weights the model uses: EMA or RAW
 * @param classNames the classes of a class-conditional model, label i is classNames.get(i) (numbers for a safetensors file); empty
 *     for an unconditional one
 * @param trainedSteps the global step of the checkpoint's run, or -1 for a safetensors file
 */
public record ModelInfo(Path source, boolean checkpoint, UNetConfig config, long parameters, TimeTable timeTable,
                        boolean hasEma, Weights weights, List<String> classNames, long trainedSteps) {
    public ModelInfo {
        classNames = List.copyOf(classNames);
    }

    /** e.g. "3x32x32 images, base width 64, depth 4, time_dim 100, T=1000, betas 0.0001..0.02". */
    public String describe() {
        return Configs.describe(config);
    }
}
