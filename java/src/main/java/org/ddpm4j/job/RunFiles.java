package org.ddpm4j.job;

import java.nio.file.Path;

/** The files of a training run's output folder. */
public record RunFiles(Path dir) {
    public Path checkpoint() {
        return dir.resolve("model.ckpt");
    }

    public Path lossLog() {
        return dir.resolve("loss.jsonl");
    }

    public Path lossPlot() {
        return dir.resolve("loss.png");
    }

    public Path samplesDir() {
        return dir.resolve("samples");
    }

    /** The grid written after epoch {@code epoch} (1-based). */
    public Path epochGrid(int epoch) {
        return samplesDir().resolve(String.format("epoch-%03d.png", epoch));
    }
}
