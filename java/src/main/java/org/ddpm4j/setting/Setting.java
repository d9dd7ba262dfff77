package org.ddpm4j.setting;

/**
 * Every value a user chooses, with its two names: the Java API's (the facade's builder method,
 * e.g. {@code logEvery}) and the command line's ({@code --log-every}). Code below the CLI names a
 * setting only through this table, so that one error reads in the vocabulary of whoever made the
 * call: {@link InvalidSettingException#getMessage()} in the API's words, the CLI in its flags.
 */
public enum Setting {
    // the model
    PRESET("preset", "--preset"),
    /** A whole model configuration (the Java API's {@code Trainer.model}; the CLI has no such flag). */
    MODEL("model", "model"),
    BASE_WIDTH("baseWidth", "--base-width"),
    DEPTH("depth", "--depth"),
    IMAGE_SIZE("imageSize", "--image-size"),
    CHANNELS("channels", "--channels"),
    TIME_DIM("timeDim", "--time-dim"),
    TIMESTEPS("timesteps", "--timesteps"),
    BETA_START("betaStart", "--beta-start"),
    BETA_END("betaEnd", "--beta-end"),
    SCHEDULE("schedule", "--schedule"),
    PREDICTION("prediction", "--prediction"),
    CONDITIONAL("conditional", "--conditional"),
    TIME_TABLE("timeTable", "--time-table"),
    // training
    BATCH("batch", "--batch"),
    LR("lr", "--lr"),
    OPTIMIZER("optimizer", "--optimizer"),
    ADAM_BETA1("adamBeta1", "--adam-beta1"),
    ADAM_BETA2("adamBeta2", "--adam-beta2"),
    ADAM_EPS("adamEps", "--adam-eps"),
    WEIGHT_DECAY("weightDecay", "--weight-decay"),
    LR_SCHEDULE("lrSchedule", "--lr-schedule"),
    LR_WARMUP("lrWarmup", "--lr-warmup"),
    LR_DECAY_STEPS("lrDecaySteps", "--lr-decay-steps"),
    MAX_GRAD_NORM("maxGradNorm", "--max-grad-norm"),
    SNR_GAMMA("snrGamma", "--snr-gamma"),
    EPOCHS("epochs", "--epochs"),
    STEPS("steps", "--steps"),
    FLIP("flip", "--flip"),
    SEED("seed", "--seed"),
    SAMPLE_EVERY("sampleEvery", "--sample-every"),
    GRID_SAMPLER("gridSampler", "--grid-sampler"),
    GRID_STEPS("gridSteps", "--grid-steps"),
    GRID_KARRAS("gridKarras", "--grid-karras"),
    CHECKPOINT_EVERY("checkpointEvery", "--checkpoint-every"),
    CHECKPOINT_MINUTES("checkpointMinutes", "--checkpoint-minutes"),
    LOG_EVERY("logEvery", "--log-every"),
    EMA_DECAY("emaDecay", "--ema-decay"),
    EMA_POWER("emaPower", "--ema-power"),
    COND_DROP("condDrop", "--cond-drop"),
    KEEP("keep", "--keep"),
    RESUME("resume", "--resume"),
    FORCE("force", "--force"),
    OUT("outputDir", "--out"),
    FROM("fineTunedFrom", "--from"),
    PROGRESS("progress", "--progress"),
    // data
    DATA("data", "--data"),
    IMAGES("imageDir", "--images"),
    SPLIT("split", "--split"),
    LIMIT("limit", "--limit"),
    RESIZE("resize", "--resize"),
    CIFAR_DIR("cifarDir", "--cifar-dir"),
    DOWNLOAD("download", "--download"),
    CLASS("class", "--class"),
    // sampling
    COUNT("count", "--count"),
    SAMPLER("sampler", "--sampler"),
    SAMPLING_STEPS("samplingSteps", "--sampling-steps"),
    KARRAS("karras", "--karras"),
    TIMESTEP_SPACING("timestepSpacing", "--timestep-spacing"),
    ETA("eta", "--eta"),
    INPAINT("inpainting image", "--inpaint"),
    MASK("inpainting mask", "--mask"),
    JUMP_LENGTH("jumpLength", "--jump-length"),
    JUMP_SAMPLES("jumpSamples", "--jump-samples"),
    INIT("init image", "--init"),
    STRENGTH("strength", "--strength"),
    CLIP_X0("clipX0", "--clip-x0"),
    GUIDANCE("guidance", "--guidance"),
    MID_STEP("midStep", "--mid-step"),
    STRIP_IMAGES("stripImages", "--strip-images"),
    STRIP_FRAMES("stripFrames", "--strip-frames"),
    FORMAT("formats", "--format"),
    WEIGHTS("weights", "--weights"),
    // compute
    DEVICE("device", "--device"),
    PRECISION("precision", "--precision"),
    THREADS("threads", "--threads"),
    // benchmarks
    WARMUP("warmup", "--warmup"),
    ITERS("iters", "--iters");

    private final String javaName;
    private final String flag;

    Setting(String javaName, String flag) {
        this.javaName = javaName;
        this.flag = flag;
    }

    /** The name in the Java API (the facade's builder method without {@code with}). */
    public String javaName() {
        return javaName;
    }

    /** The command-line flag, e.g. {@code --log-every}. */
    public String flag() {
        return flag;
    }

    /**
     * The value of this setting among {@code allowed}, named by its constant in any case (trimmed), or an
     * error listing them: "must be ema or raw, got 'best'". The one parser of the enum-valued settings.
     */
    @SafeVarargs
    public final <E extends Enum<E>> E parse(String text, E... allowed) {
        return parse(text, e -> e.name().toLowerCase(java.util.Locale.ROOT), allowed);
    }

    /** As {@link #parse(String, Enum[])}, each value named by {@code name} (in any case) instead of its constant. */
    @SafeVarargs
    public final <E extends Enum<E>> E parse(String text, java.util.function.Function<E, String> name, E... allowed) {
        String t = text.trim();
        for (E e : allowed) {
            if (name.apply(e).equalsIgnoreCase(t)) return e;
        }
        StringBuilder names = new StringBuilder();
        for (int i = 0; i < allowed.length; i++) {
            if (i > 0) names.append(i == allowed.length - 1 ? " or " : ", ");
            names.append(name.apply(allowed[i]));
        }
        throw invalid("must be " + names + ", got '" + text + "'");
    }

    /**
     * An error about this setting: its name, a space, then {@code parts} (strings, and other settings
     * named in the caller's vocabulary), e.g. {@code ETA.invalid("is for ", SAMPLER, " ddim")}.
     */
    public InvalidSettingException invalid(Object... parts) {
        Object[] all = new Object[parts.length + 2];
        all[0] = this;
        all[1] = " ";
        System.arraycopy(parts, 0, all, 2, parts.length);
        return new InvalidSettingException(this, SettingText.of(all));
    }
}
