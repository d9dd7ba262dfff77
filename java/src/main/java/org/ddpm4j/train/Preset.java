package org.ddpm4j.train;

import java.util.Locale;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.setting.Setting;

/**
 * Named starting points for the model and training flags; every value can be
 * overridden on the command line.
 * <ul>
 * <li>{@code seed}: the notebook's model, schedule and time table (base 64, depth 4,
 *   time_dim 100, T = 1000, betas 1e-4..0.02, the table of its {@code sinusoidal_embedding}),
 *   batch 512, Adam lr 1e-4, 15 epochs, no flips; a GPU job. The notebook's table is bounded
 *   (sines of t / 10000^(2j/d) in even rows t, cosines in odd rows) and trains: with the same
 *   seed and batches small models' losses end 1.6-2.7% above the standard table's (see the
 *   README), a small price for training what the notebook trains. {@code --time-table standard} picks the usual table;
 *   imported notebook weights keep the table they came with.</li>
 * <li>{@code tiny}: the same architecture and schedule at base width 16 and depth 2, the standard table,
 *   batch 64, lr 1e-3, 2 epochs, flips on, a sample grid after the last epoch: trains for
 *   real on two CPU cores in about a quarter of an hour (the loss falls from about 1 to
 *   about 0.05) and gives blurry, image-like samples (colour and texture, not objects).</li>
 * </ul>
 * Both keep an EMA of the weights for sampling: decay 0.9999 for seed (the DDPM paper's
 * value for CIFAR-10), 0.999 for tiny's ~1,600 steps; either way warmed up as
 * min(decay, (1 + u) / (10 + u)), which is what governs a run as short as tiny's.
 */
public enum Preset {
    SEED(UNetConfig.seed(), 512, 1e-4, 15, false, TimeTable.NOTEBOOK, 5, 0.9999),
    TINY(UNetConfig.seed().withBaseWidth(16).withDepth(2), 64, 1e-3, 2, true, TimeTable.STANDARD, 2, 0.999);

    /** The notebook's per-class fine-tuning: Adam lr 3e-4 for 10 epochs. */
    public static final double FINETUNE_LR = 3e-4;
    public static final int FINETUNE_EPOCHS = 10;
    public static final long DEFAULT_SEED = 0;

    private final UNetConfig model;
    private final int batch;
    private final double lr;
    private final int epochs;
    private final boolean flip;
    private final TimeTable timeTable;
    private final int sampleEvery;
    private final double emaDecay;

    Preset(UNetConfig model, int batch, double lr, int epochs, boolean flip, TimeTable timeTable, int sampleEvery,
           double emaDecay) {
        this.emaDecay = emaDecay;
        this.model = model;
        this.batch = batch;
        this.lr = lr;
        this.epochs = epochs;
        this.flip = flip;
        this.timeTable = timeTable;
        this.sampleEvery = sampleEvery;
    }

    public static Preset parse(String s) {
        return Setting.PRESET.parse(s, values());
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public UNetConfig model() {
        return model;
    }

    public TrainSettings settings() {
        return new TrainSettings(label(), batch, AdamConfig.withLr(lr), epochs, 0, flip, DEFAULT_SEED, timeTable,
                sampleEvery, 1, 15.0, 50, emaDecay, TrainSettings.DEFAULT_COND_DROP, org.ddpm4j.optim.LrSchedule.CONSTANT, 0.0, 0.0, 0.0,
                org.ddpm4j.sample.SamplerKind.DDPM, 0, false);
    }
}
