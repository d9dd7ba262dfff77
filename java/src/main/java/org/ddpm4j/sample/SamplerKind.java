package org.ddpm4j.sample;

import org.ddpm4j.setting.Setting;

/**
 * How the reverse process is run. DDPM: ancestral sampling through every timestep (the
 * notebook's). DDIM: Song et al. 2021's update over evenly spaced timesteps, deterministic
 * at eta 0, as noisy as DDPM's posterior at eta 1. DPM-Solver++ (Lu et al. 2022): the
 * second-order multistep solver ("DPM++ 2M") as diffusers' {@code DPMSolverMultistepScheduler}
 * runs it by default, good images in 15-25 steps; its SDE variant ("DPM++ 2M SDE") adds
 * fresh noise at every step; DPM_SOLVER_3M is the third-order one ("DPM++ 3M", diffusers'
 * solver_order 3, which diffusers recommends for unconditional sampling).
 */
public enum SamplerKind {
    DDPM("ddpm"), DDIM("ddim"), DPM_SOLVER("dpm++"), DPM_SOLVER_SDE("dpm++sde"), DPM_SOLVER_3M("dpm++3m");

    /** Steps of a DDIM run unless asked otherwise. */
    public static final int DEFAULT_DDIM_STEPS = 50;
    /** Steps of a DPM-Solver++ run unless asked otherwise (diffusers' pipelines use 20-25). */
    public static final int DEFAULT_DPM_SOLVER_STEPS = 20;

    private final String label;

    SamplerKind(String label) {
        this.label = label;
    }

    /** By label, in any case: ddpm, ddim, dpm++, dpm++sde, dpm++3m. */
    public static SamplerKind parse(String s) {
        return Setting.SAMPLER.parse(s, SamplerKind::label, values());
    }

    /** The name on the command line: ddpm, ddim, dpm++, dpm++sde, dpm++3m. */
    public String label() {
        return label;
    }

    public boolean isDpmSolver() {
        return this == DPM_SOLVER || this == DPM_SOLVER_SDE || this == DPM_SOLVER_3M;
    }

    /** The most steps a model of T timesteps allows: T (DDPM: exactly T), T - 1 for DPM-Solver++ (more would repeat a timestep). */
    public int maxSteps(int T) {
        return isDpmSolver() ? T - 1 : T;
    }

    /** The steps of a run that asks for none. */
    public int defaultSteps(int T) {
        return switch (this) {
            case DDPM -> T;
            case DDIM -> Math.min(DEFAULT_DDIM_STEPS, T);
            case DPM_SOLVER, DPM_SOLVER_SDE, DPM_SOLVER_3M -> Math.min(DEFAULT_DPM_SOLVER_STEPS, T - 1);
        };
    }
}
