package org.ddpm4j.api;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.optim.AdamConfig;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.optim.Optimizer;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;
import org.ddpm4j.train.TrainSettings;

/**
 * A {@link Trainer}'s training settings chosen over a base (a preset's, a fine-tune base's or a
 * resumed run's). On a resume, the values that change what is computed must equal the run's;
 * the length of the run and the cadences may change.
 */
final class SettingsChoice {
    Integer batch;
    Double lr;
    Optimizer optimizer;
    Double adamBeta1;
    Double adamBeta2;
    Double adamEps;
    Double weightDecay;
    LrSchedule.Kind lrSchedule;
    Long lrWarmup;
    Long lrDecaySteps;
    Double maxGradNorm;
    Double snrGamma;
    Integer epochs;
    Long steps;
    Boolean flip;
    Long seed;
    TimeTable timeTable;
    Double emaDecay;
    Double emaPower;
    Double condDrop;
    Integer sampleEvery;
    SamplerKind gridSampler;
    Integer gridSteps;
    Boolean gridKarras;
    Integer checkpointEvery;
    Double checkpointMinutes;
    Integer logEvery;

    /** The base with the values chosen (checked by TrainSettings, whose messages name the settings). */
    TrainSettings apply(TrainSettings s) {
        TrainSettings r = s;
        if (batch != null) r = r.withBatch(batch);
        if (lr != null) r = r.withLr(lr);
        if (optimizer != null || adamBeta1 != null || adamBeta2 != null || adamEps != null || weightDecay != null) {
            AdamConfig a = r.adam();
            r = r.withOptimizer(optimizer != null ? optimizer : a.optimizer(), adamBeta1 != null ? adamBeta1 : a.beta1(),
                    adamBeta2 != null ? adamBeta2 : a.beta2(), adamEps != null ? adamEps : a.eps(),
                    weightDecay != null ? weightDecay : a.weightDecay());
        }
        if (lrSchedule != null || lrWarmup != null || lrDecaySteps != null) {
            r = r.withLrSchedule(new LrSchedule(lrSchedule != null ? lrSchedule : r.lrSchedule().kind(),
                    lrWarmup != null ? lrWarmup : r.lrSchedule().warmupSteps(),
                    lrDecaySteps != null ? lrDecaySteps : r.lrSchedule().decaySteps()));
        }
        if (epochs != null) r = r.withEpochs(epochs);
        if (steps != null) r = r.withMaxSteps(steps);
        if (flip != null) r = r.withFlip(flip);
        if (timeTable != null) r = r.withTimeTable(timeTable);
        if (sampleEvery != null) r = r.withSampleEvery(sampleEvery);
        if (gridSampler != null || gridSteps != null || gridKarras != null) {
            // A new grid sampler starts from its own defaults: its steps, and evenly spaced timesteps.
            r = r.withGridSampler(gridSampler != null ? gridSampler : r.gridSampler(),
                    gridSteps != null ? gridSteps : gridSampler != null ? 0 : r.gridSteps(),
                    gridKarras != null ? gridKarras : gridSampler == null && r.gridKarras());
        }
        if (checkpointEvery != null || checkpointMinutes != null) {
            r = r.withCheckpointEvery(checkpointEvery != null ? checkpointEvery : r.checkpointEvery(),
                    checkpointMinutes != null ? checkpointMinutes : r.checkpointMinutes());
        }
        if (logEvery != null) r = r.withLogEvery(logEvery);
        if (emaDecay != null) r = r.withEmaDecay(emaDecay);
        if (emaPower != null) r = r.withEmaPower(emaPower);
        if (condDrop != null) r = r.withCondDrop(condDrop);
        if (maxGradNorm != null) r = r.withMaxGradNorm(maxGradNorm);
        if (snrGamma != null) r = r.withSnrGamma(snrGamma);
        if (seed != null) r = r.withSeed(seed);
        return r;
    }

    /** The values chosen that change what is computed and differ from a run's recorded settings. */
    List<SettingText> changedFrom(TrainSettings r) {
        List<SettingText> out = new ArrayList<>();
        Changes.add(out, Setting.BATCH, batch, r.batch());
        Changes.add(out, Setting.LR, lr, r.adam().lr());
        if (optimizer != null && optimizer != r.adam().optimizer()) {
            out.add(Changes.of(Setting.OPTIMIZER, optimizer.label(), r.adam().optimizer().label()));
        }
        Changes.add(out, Setting.ADAM_BETA1, adamBeta1, r.adam().beta1());
        Changes.add(out, Setting.ADAM_BETA2, adamBeta2, r.adam().beta2());
        Changes.add(out, Setting.ADAM_EPS, adamEps, r.adam().eps());
        Changes.add(out, Setting.WEIGHT_DECAY, weightDecay, r.adam().weightDecay());
        if (lrSchedule != null && lrSchedule != r.lrSchedule().kind()) {
            out.add(Changes.of(Setting.LR_SCHEDULE, lrSchedule.label(), r.lrSchedule().kind().label()));
        }
        Changes.add(out, Setting.LR_WARMUP, lrWarmup, r.lrSchedule().warmupSteps());
        Changes.add(out, Setting.LR_DECAY_STEPS, lrDecaySteps, r.lrSchedule().decaySteps());
        Changes.add(out, Setting.MAX_GRAD_NORM, maxGradNorm, r.maxGradNorm());
        Changes.add(out, Setting.SNR_GAMMA, snrGamma, r.snrGamma());
        Changes.add(out, Setting.FLIP, flip, r.flip());
        if (timeTable != null && timeTable != r.timeTable()) out.add(Changes.of(Setting.TIME_TABLE, timeTable.label(), r.timeTable().label()));
        Changes.add(out, Setting.EMA_DECAY, emaDecay, r.emaDecay());
        Changes.add(out, Setting.EMA_POWER, emaPower, r.emaPower());
        Changes.add(out, Setting.COND_DROP, condDrop, r.condDrop());
        Changes.add(out, Setting.SEED, seed, r.seed());
        return out;
    }
}
