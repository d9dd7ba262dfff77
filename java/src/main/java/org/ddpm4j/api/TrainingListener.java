package org.ddpm4j.api;

/**
 * Hears a {@link Trainer}'s run as it goes, on the training thread: keep the work short (a slow
 * listener slows training), and call {@link Trainer#requestStop} from here or from any thread to end
 * the run after the current step. An exception thrown here ends the run (as an
 * {@link InternalException} carrying it); the checkpoints written before stay.
 */
public interface TrainingListener {
    /**
     * The losses of the global steps [firstStep, firstStep + losses.length), in order, each step once, as
     * they are read from the device: in batches of up to {@code logEvery} steps (50 by default) or every
     * half a second, and at every epoch's end. The array is the listener's to keep.
     */
    default void losses(long firstStep, float[] losses) {}

    /**
     * In a run that clips gradients ({@link Trainer#maxGradNorm}): the gradient norms before clipping of the same
     * steps as the {@link #losses} call just before. The array is the listener's to keep.
     */
    default void gradNorms(long firstStep, float[] norms) {}

    /**
     * Epoch {@code epoch} (1-based, counted over the whole run) ended: {@code meanLoss} is the mean of its steps'
     * losses (of the steps trained by this call of train(), for an epoch a resumed run began midway), {@code seconds}
     * its wall time, checkpoints included, sample grids not.
     */
    default void epochEnded(int epoch, double meanLoss, double seconds) {}
}
