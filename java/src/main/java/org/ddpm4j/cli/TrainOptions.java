package org.ddpm4j.cli;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.train.Progress;
import org.ddpm4j.train.TrainSettings;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** Training hyper-parameters and cadences: overrides of a preset (or of a base checkpoint). */
public final class TrainOptions {
    @Option(names = "--batch", paramLabel = "N", description = "Images per step (seed 512, tiny 64).")
    Integer batch;

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (seed 1e-4, tiny 1e-3, fine-tune 3e-4).")
    Double lr;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs to train (seed 15, tiny 2, fine-tune 10).")
    Integer epochs;

    @Option(names = "--steps", paramLabel = "N", description = "Stop when the global step reaches N (0 = no limit).")
    Long steps;

    @Option(names = "--flip", negatable = true, description = "Random horizontal flips (seed off, tiny on).")
    Boolean flip;

    @Option(names = "--time-table", paramLabel = "standard|notebook", converter = TimeTableConverter.class,
            description = "Time-embedding table of a new model: standard (sin and cos in column pairs) or notebook (the seed notebook's own: sines in even rows, cosines in odd rows) (seed: notebook, tiny: standard).")
    TimeTable timeTable;

    @Option(names = "--ema-decay", paramLabel = "D",
            description = "Keep an EMA of the weights with decay D, warmed up as min(D, (1+step)/(10+step)); sample, export and finetune use it by default; 0 = off (seed 0.9999, tiny 0.999).")
    Double emaDecay;

    @Option(names = "--cond-drop", paramLabel = "P",
            description = "With --conditional: probability that a training label is replaced by the null class, for classifier-free guidance (default 0.1).")
    Double condDrop;

    @Option(names = "--sample-every", paramLabel = "N", description = "Write a 10x10 sample grid every N epochs and after the last, 0 = never (seed 5, tiny 2).")
    Integer sampleEvery;

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "Write the checkpoint every N epochs (default 1; always at the end).")
    Integer checkpointEvery;

    @Option(names = "--checkpoint-minutes", paramLabel = "M", description = "Also write it after M minutes without one, 0 = off (default 15).")
    Double checkpointMinutes;

    @Option(names = "--log-every", paramLabel = "N", description = "Read losses from the device at least every N steps (default 50).")
    Integer logEvery;

    @Option(names = "--keep", paramLabel = "N", defaultValue = "2",
            description = "Checkpoints to keep in the run folder: model.ckpt and N-1 older ones, model-step<S>.ckpt (default: ${DEFAULT-VALUE}).")
    int keep = 2;

    @Option(names = "--progress", paramLabel = "auto|bar|plain|none", converter = ProgressConverter.class, defaultValue = "auto",
            description = "Progress display: a bar on a terminal, plain lines otherwise (default: ${DEFAULT-VALUE}).")
    Progress.Mode progress = Progress.Mode.AUTO;

    TrainSettings apply(TrainSettings s, Long seed) {
        TrainSettings r = s;
        if (batch != null) r = r.withBatch(batch);
        if (lr != null) r = r.withLr(lr);
        if (epochs != null) r = r.withEpochs(epochs);
        if (steps != null) r = r.withMaxSteps(steps);
        if (flip != null) r = r.withFlip(flip);
        if (timeTable != null) r = r.withTimeTable(timeTable);
        if (sampleEvery != null) r = r.withSampleEvery(sampleEvery);
        if (checkpointEvery != null || checkpointMinutes != null) {
            r = r.withCheckpointEvery(checkpointEvery != null ? checkpointEvery : r.checkpointEvery(),
                    checkpointMinutes != null ? checkpointMinutes : r.checkpointMinutes());
        }
        if (logEvery != null) r = r.withLogEvery(logEvery);
        if (emaDecay != null) r = r.withEmaDecay(emaDecay);
        if (condDrop != null) r = r.withCondDrop(condDrop);
        if (seed != null) r = r.withSeed(seed);
        return r;
    }

    /** Math flags (see {@link #givenMath}) whose values differ from a run's recorded settings. */
    List<String> changedMathFrom(TrainSettings r) {
        List<String> out = new ArrayList<>();
        Changes.add(out, "--batch", batch, r.batch());
        Changes.add(out, "--lr", lr, r.adam().lr());
        Changes.add(out, "--flip", flip, r.flip());
        if (timeTable != null && timeTable != r.timeTable()) out.add(Changes.of("--time-table", timeTable.label(), r.timeTable().label()));
        return out;
    }

    /** Flags that change what is computed (not allowed when resuming). */
    List<String> givenMath() {
        List<String> g = new ArrayList<>();
        if (batch != null) g.add("--batch");
        if (lr != null) g.add("--lr");
        if (flip != null) g.add("--flip");
        if (timeTable != null) g.add("--time-table");
        if (emaDecay != null) g.add("--ema-decay");
        if (condDrop != null) g.add("--cond-drop");
        return g;
    }

    /** picocli converter for --time-table. */
    public static final class TimeTableConverter implements ITypeConverter<TimeTable> {
        @Override
        public TimeTable convert(String value) {
            try {
                return TimeTable.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** picocli converter for --progress. */
    public static final class ProgressConverter implements ITypeConverter<Progress.Mode> {
        @Override
        public Progress.Mode convert(String value) {
            try {
                return Progress.Mode.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
