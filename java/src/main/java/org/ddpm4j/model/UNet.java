package org.ddpm4j.model;

import java.util.List;
import org.ddpm4j.optim.AdamConfig;

/**
 * The seed UNet living on a backend, with its flat parameter, gradient, Adam and
 * BatchNorm buffers, its DDPM training step and its ancestral sampler.
 * Not thread-safe: drive it from one thread. Close it before its backend.
 */
public interface UNet extends AutoCloseable {

    UNetConfig config();

    int maxBatch();

    String backendName();

    long numParams();

    /** Trainable tensors, in the order of the flat parameter buffer. */
    List<TensorInfo> params();

    /** BatchNorm running statistics, in the order of the flat buffer. */
    List<TensorInfo> buffers();

    long numBuffers();

    /** Backend memory held by this model, in bytes. */
    long backendBytes();

    /** PyTorch default initialisation from {@code seed}; zero Adam state and counters; standard time table. */
    void init(long seed);

    float[] params(float[] into);

    void setParams(float[] values);

    float[] grads(float[] into);

    /** First moments then second moments, 2 * numParams(). */
    float[] adamState(float[] into);

    void setAdamState(float[] values);

    float[] bufferValues(float[] into);

    void setBufferValues(float[] values);

    /** The frozen time-embedding table, timesteps * timeDim. */
    float[] timeTable(float[] into);

    void setTimeTable(float[] values);

    long adamStep();

    void setAdamStep(long step);

    long bnBatches();

    void setBnBatches(long batches);

    /** Forward pass on host arrays: x is n * C*H*W, t holds n timesteps. */
    float[] forward(float[] x, int[] t, int n, boolean training);

    /**
     * Gradients of sum(out * dout) for the last training forward: parameter
     * gradients land in the gradient buffer; returns dL/dx when wantDx, else null.
     */
    float[] backward(float[] dout, int n, boolean wantDx);

    /**
     * One DDPM training step on uint8 pixels (n * C*H*W, CHW order) with optional
     * per-sample horizontal flips; t and noise come from (seed, step).
     * Does not wait for the device; the loss is read with {@link #losses}.
     */
    void trainStep(byte[] pixels, byte[] flips, int n, AdamConfig adam, long seed, long step);

    /** Losses of steps [firstStep, firstStep + count); waits for the device. */
    float[] losses(long firstStep, int count);

    /** Starts sampling n images, global indices firstIndex.. (noise independent of batching). */
    void sampleBegin(int n, long seed, long firstIndex);

    /** One reverse step at t (timesteps - 1 down to 0). */
    void sampleStep(int t);

    /** The current images, n * C*H*W, optionally clipped to [-1, 1]. */
    float[] sampleRead(boolean clip);

    @Override
    void close();
}
