package org.ddpm4j.cli;

import org.ddpm4j.api.Trainer;
import org.ddpm4j.diffusion.TimeTable;
import org.ddpm4j.optim.LrSchedule;
import org.ddpm4j.optim.Optimizer;
import org.ddpm4j.sample.SamplerKind;
import org.ddpm4j.train.Progress;
import picocli.CommandLine.Option;

/** Training hyper-parameters and cadences: overrides of a preset (or of a base checkpoint). */
public final class TrainOptions {
    @Option(names = "--batch", paramLabel = "N", description = "Images per step (seed 512, tiny 64).")
    Integer batch;

    @Option(names = "--lr", paramLabel = "LR", description = "Adam learning rate (seed 1e-4, tiny 1e-3, fine-tune 3e-4).")
    Double lr;

    @Option(names = "--optimizer", paramLabel = "adam|adamw", converter = Converters.OptimizerConverter.class,
            description = "adam: torch.optim.Adam, --weight-decay added to the gradient as L2 (default, the notebook's); adamw: torch.optim.AdamW, the weights shrunk by lr x --weight-decay apart from the gradient (diffusers' training scripts: betas 0.95/0.999, weight decay 1e-6).")
    Optimizer optimizer;

    @Option(names = "--adam-beta1", paramLabel = "B", description = "Adam's beta1 (default 0.9).")
    Double adamBeta1;

    @Option(names = "--adam-beta2", paramLabel = "B", description = "Adam's beta2 (default 0.999).")
    Double adamBeta2;

    @Option(names = "--adam-eps", paramLabel = "E", description = "Adam's epsilon (default 1e-8).")
    Double adamEps;

    @Option(names = "--weight-decay", paramLabel = "W", description = "Weight decay, as --optimizer says (default 0).")
    Double weightDecay;

    @Option(names = "--lr-schedule", paramLabel = "constant|cosine|linear", converter = Converters.LrScheduleConverter.class,
            description = "The learning rate after the warm-up: constant (the notebook's), or a cosine or linear decay to 0 at the run's last step, as Hugging Face's training scripts (default constant).")
    LrSchedule.Kind lrSchedule;

    @Option(names = "--lr-warmup", paramLabel = "N", description = "Raise the learning rate linearly from 0 over the first N steps (default 0).")
    Long lrWarmup;

    @Option(names = "--lr-decay-steps", paramLabel = "N", description = "The global step where a cosine or linear decay reaches 0 (default: the run's last step when it starts; kept on --resume).")
    Long lrDecaySteps;

    @Option(names = "--max-grad-norm", paramLabel = "X",
            description = "Clip the gradients to global norm X before each Adam step, as torch.nn.utils.clip_grad_norm_ (diffusers' training scripts use 1.0); 0 = off (default, the notebook's).")
    Double maxGradNorm;

    @Option(names = "--snr-gamma", paramLabel = "G",
            description = "Weight each sample's loss gradient by Min-SNR-gamma (Hang et al. 2023), min(snr_t, G) / snr_t, as diffusers' --snr_gamma (5 is the paper's); the losses shown stay the plain MSE. 0 = off (default, the notebook's).")
    Double snrGamma;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs to train (seed 15, tiny 2, fine-tune 10).")
    Integer epochs;

    @Option(names = "--steps", paramLabel = "N", description = "Stop when the global step reaches N (0 = no limit).")
    Long steps;

    @Option(names = "--flip", negatable = true, description = "Random horizontal flips (seed off, tiny on).")
    Boolean flip;

    @Option(names = "--time-table", paramLabel = "standard|notebook", converter = Converters.TimeTableConverter.class,
            description = "Time-embedding table of a new model: standard (sin and cos in column pairs) or notebook (the seed notebook's own: sines in even rows, cosines in odd rows) (seed: notebook, tiny: standard).")
    TimeTable timeTable;

    @Option(names = "--ema-decay", paramLabel = "D",
            description = "Keep an EMA of the weights with decay D, warmed up as min(D, (1+step)/(10+step)); sample, export and finetune use it by default; 0 = off (seed 0.9999, tiny 0.999).")
    Double emaDecay;

    @Option(names = "--ema-power", paramLabel = "P",
            description = "The EMA's warm-up as diffusers' use_ema_warmup: min(D, 1 - (1+step)^-P) (its training scripts use 0.75); 0 = min(D, (1+step)/(10+step)) (default).")
    Double emaPower;

    @Option(names = "--cond-drop", paramLabel = "P",
            description = "With --conditional: probability that a training label is replaced by the null class, for classifier-free guidance (default 0.1).")
    Double condDrop;

    @Option(names = "--sample-every", paramLabel = "N", description = "Write a 10x10 sample grid every N epochs and after the last, 0 = never (seed 5, tiny 2).")
    Integer sampleEvery;

    @Option(names = "--grid-sampler", paramLabel = "ddpm|ddim|dpm++|dpm++sde|dpm++3m", converter = Converters.SamplerConverter.class,
            description = "How those grids are drawn (default ddpm, the notebook's 1,000 steps; dpm++sde in 20 steps keeps DDPM's look at 1/50 of the time).")
    SamplerKind gridSampler;

    @Option(names = "--grid-karras", description = "Those grids' DPM-Solver++ steps between Karras sigmas, as ddpm sample --karras (with --grid-sampler dpm++, dpm++sde or dpm++3m).")
    Boolean gridKarras;

    @Option(names = "--grid-steps", paramLabel = "N", description = "Their steps with another sampler (default: the sampler's, 50 for ddim, 20 for dpm++).")
    Integer gridSteps;

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "Write the checkpoint every N epochs (default 1; always at the end).")
    Integer checkpointEvery;

    @Option(names = "--checkpoint-minutes", paramLabel = "M", description = "Also write it after M minutes without one, 0 = off (default 15).")
    Double checkpointMinutes;

    @Option(names = "--log-every", paramLabel = "N", description = "Read losses from the device at least every N steps (default 50).")
    Integer logEvery;

    @Option(names = "--keep", paramLabel = "N", defaultValue = "2",
            description = "Checkpoints to keep in the run folder: model.ckpt and N-1 older ones, model-step<S>.ckpt (default: ${DEFAULT-VALUE}).")
    int keep = 2;

    @Option(names = "--progress", paramLabel = "auto|bar|plain|none", converter = Converters.ProgressConverter.class, defaultValue = "auto",
            description = "Progress display: a bar on a terminal, plain lines otherwise (default: ${DEFAULT-VALUE}).")
    Progress.Mode progress = Progress.Mode.AUTO;

    /** Hands the values given to the trainer (cadences, length and checkpoints to keep included). */
    void applyTo(Trainer t) {
        if (batch != null) t.batch(batch);
        if (lr != null) t.lr(lr);
        if (optimizer != null) t.optimizer(optimizer);
        if (adamBeta1 != null) t.adamBeta1(adamBeta1);
        if (adamBeta2 != null) t.adamBeta2(adamBeta2);
        if (adamEps != null) t.adamEps(adamEps);
        if (weightDecay != null) t.weightDecay(weightDecay);
        if (lrSchedule != null) t.lrSchedule(lrSchedule);
        if (lrWarmup != null) t.lrWarmup(lrWarmup);
        if (lrDecaySteps != null) t.lrDecaySteps(lrDecaySteps);
        if (maxGradNorm != null) t.maxGradNorm(maxGradNorm);
        if (snrGamma != null) t.snrGamma(snrGamma);
        if (epochs != null) t.epochs(epochs);
        if (steps != null) t.steps(steps);
        if (flip != null) t.flip(flip);
        if (timeTable != null) t.timeTable(timeTable);
        if (emaDecay != null) t.emaDecay(emaDecay);
        if (emaPower != null) t.emaPower(emaPower);
        if (condDrop != null) t.condDrop(condDrop);
        if (sampleEvery != null) t.sampleEvery(sampleEvery);
        if (gridSampler != null || gridSteps != null) t.gridSampler(gridSampler != null ? gridSampler : SamplerKind.DDPM, gridSteps != null ? gridSteps : 0);
        if (gridKarras != null) t.gridKarras(gridKarras);
        if (checkpointEvery != null) t.checkpointEvery(checkpointEvery);
        if (checkpointMinutes != null) t.checkpointMinutes(checkpointMinutes);
        if (logEvery != null) t.logEvery(logEvery);
        t.keep(keep).progress(progress);
    }
}
