package org.ddpm4j.cli;

import org.ddpm4j.api.LoadOptions;
import org.ddpm4j.checkpoint.Weights;
import picocli.CommandLine.Option;

/** What a safetensors file's weights do not say: the image size and the beta schedule. */
public final class WeightsOptions {
    @Option(names = "--image-size", paramLabel = "PX", description = "Image size of a safetensors model without ddpm4j metadata (default 32).")
    Integer imageSize;

    @Option(names = "--beta-start", paramLabel = "B", description = "First beta for a safetensors model without ddpm4j metadata (default 1e-4).")
    Float betaStart;

    @Option(names = "--beta-end", paramLabel = "B", description = "Last beta for a safetensors model without ddpm4j metadata (default 0.02).")
    Float betaEnd;

    /** How to read the model file, taking {@code weights} of a model that keeps an EMA (null: the default). */
    LoadOptions loadOptions(Weights weights) {
        return new LoadOptions(weights, imageSize, betaStart, betaEnd);
    }

    boolean given() {
        return imageSize != null || betaStart != null || betaEnd != null;
    }
}
