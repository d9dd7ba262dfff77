package org.ddpm4j.model;

import java.nio.FloatBuffer;

/**
 * Host memory holding one copy of a model's checkpoint state (pinned on CUDA, so the device
 * copies into it while it goes on working): filled by {@link UNet#snapshotBegin}, complete once
 * {@link #await} returns. The buffers are views into that memory, valid until {@link #close}.
 * {@link #await} may be called from another thread than the one driving the model.
 */
public interface StateSnapshot extends AutoCloseable {
    FloatBuffer params();

    FloatBuffer buffers();

    /** Adam's first moments, then its second moments. */
    FloatBuffer adam();

    /** The parameters' EMA, or null when the model keeps none. */
    FloatBuffer emaParams();

    /** The BatchNorm statistics' EMA, or null when the model keeps none. */
    FloatBuffer emaBuffers();

    FloatBuffer timeTable();

    /** Adam's step counter when the snapshot began. */
    long adamStep();

    /** BatchNorm's batch counter when the snapshot began. */
    long bnBatches();

    /** Blocks until the copies of the last {@link UNet#snapshotBegin} into this snapshot have landed. */
    void await();

    /** Frees the host memory; the model's writes into it must be complete ({@link #await}). */
    @Override
    void close();
}
