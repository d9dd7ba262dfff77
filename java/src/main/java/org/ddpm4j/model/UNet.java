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

    /**
     * Keeps an exponential moving average of the parameters and of the BatchNorm running
     * statistics, updated after each Adam step with decay min(decay, (1 + u) / (10 + u)) for
     * update number u (0-based); decay in [0, 1), 0 stops updating. The first call with
     * decay &gt; 0 starts the averages at the current weights.
     */
    void setEma(double decay);

    /** The EMA's warm-up: 0, min(decay, (1+u)/(10+u)) (the default); &gt; 0, min(decay, 1 - (1+u)^-power) (diffusers' use_ema_warmup). */
    void setEmaPower(double power);

    boolean hasEma();

    /** The EMA of the parameters (numParams()); throws without one. */
    float[] emaParams(float[] into);

    /** Replaces the EMA of the parameters (starting the EMA if there is none). */
    void setEmaParams(float[] values);

    /** The EMA of the BatchNorm running statistics (numBuffers()); throws without one. */
    float[] emaBuffers(float[] into);

    /** Replaces the EMA of the BatchNorm statistics (starting the EMA if there is none). */
    void setEmaBuffers(float[] values);

    /** Exchanges the parameters and statistics with their EMA (clobbers the gradients); twice restores them. */
    void swapEma();

    /** Probability that a training label is dropped to the null class (conditional models; default 0.1). */
    void setCondDrop(double p);

    /** Training steps clip the gradients to this global norm before Adam (torch's clip_grad_norm_; 0 = off, the default). */
    void setMaxGradNorm(double maxNorm);

    /** Training steps weight each sample's loss gradient by Min-SNR-gamma (the reported loss stays the plain MSE; 0 = off). */
    void setSnrGamma(double gamma);

    /**
     * Host memory for snapshots of this model's checkpoint state (pinned on CUDA), reused from one
     * snapshot to the next. Close it before the model.
     */
    StateSnapshot newSnapshot();

    /**
     * Starts copying the state after the last training step into {@code into} (one of this model's
     * snapshots, whose previous copy must be complete): on CUDA it returns at once, in the order of the
     * device's work, and the training steps that follow change the model, not the snapshot.
     */
    void snapshotBegin(StateSnapshot into);

    /** Forward pass on host arrays: x is n * C*H*W, t holds n timesteps. */
    float[] forward(float[] x, int[] t, int n, boolean training);

    /** The same with class labels (n values in [0, numClasses]; numClasses = the null class) of a conditional model. */
    float[] forward(float[] x, int[] t, int[] labels, int n, boolean training);

    /**
     * The noise prediction of n images at their timesteps (the eval forward; labels nullable: the null class):
     * the network's output, or for a v-prediction model eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t.
     */
    float[] predictNoise(float[] x, int[] t, int[] labels, int n);

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

    /**
     * The same with the batch's class labels (n values in [0, numClasses)), required by a
     * conditional model; ignored by an unconditional one.
     */
    void trainStep(byte[] pixels, byte[] flips, int[] labels, int n, AdamConfig adam, long seed, long step);

    /** How many of the last training steps' losses stay readable with {@link #losses} (the native ring). */
    int lossRing();

    /** Losses of steps [firstStep, firstStep + count); waits for the device. */
    float[] losses(long firstStep, int count);

    /** Gradient norms (before clipping) of steps [firstStep, firstStep + count) of a clipping run ({@link #setMaxGradNorm}). */
    float[] gradNorms(long firstStep, int count);

    /** Starts sampling n images, global indices firstIndex.. (noise independent of batching). */
    void sampleBegin(int n, long seed, long firstIndex);

    /**
     * Class labels (n values in [0, numClasses], numClasses = the null class) and the
     * classifier-free guidance scale w of the images begun by the last sampleBegin
     * (conditional models): eps = eps_null + w (eps_label - eps_null). w other than 0 and 1
     * runs both passes as one batch of 2n, which must fit the max batch.
     */
    void sampleSetLabels(int[] labels, float guidance);

    /** One reverse step at t (timesteps - 1 down to 0). */
    void sampleStep(int t);

    /**
     * The same through the posterior with the predicted x_0 clipped to [-x0Clip, x0Clip]
     * (improved-diffusion's p_sample); x0Clip &lt;= 0 is {@link #sampleStep(int)}.
     */
    void sampleStep(int t, float x0Clip);

    /**
     * One DDIM step from t to tPrev (-1: to x_0) with noise scale eta (0: deterministic),
     * the x_0 prediction clipped to [-x0Clip, x0Clip] when x0Clip &gt; 0.
     */
    void sampleStepDdim(int t, int tPrev, double eta, float x0Clip);

    /**
     * One DPM-Solver++ step (diffusers' DPMSolverMultistepScheduler, 2M midpoint) from t to tNext
     * (-1: to x_0, first order), second order through the previous step's x_0 prediction when
     * tLast &gt;= 0 (the previous step must have gone from tLast to t), first order when tLast = -1,
     * third order (3M) through the one before too when tLast2 &gt;= 0 (the steps went tLast2 -&gt; tLast
     * -&gt; t; not with the SDE); {@code sde}: the SDE variant, with fresh noise; x_0 clipped to
     * [-x0Clip, x0Clip] when x0Clip &gt; 0.
     */
    void sampleStepDpmSolver(int t, int tNext, int tLast, int tLast2, boolean sde, float x0Clip);

    /**
     * The levels of a DPM-Solver++ run of {@code steps} over Karras sigmas (Karras et al. 2022, rho 7,
     * diffusers' {@code use_karras_sigmas}) for this model's schedule: from its largest sigma to its
     * smallest (steps in [1, T-1]); the run's last step goes on to x_0.
     */
    NoiseLevels karrasLevels(int steps);

    /**
     * One DPM-Solver++ step between noise levels given as sigmas (a {@link #karrasLevels} run's), the
     * model evaluated at timestep t: from sigma to sigmaNext (0: to x_0), second order when sigmaLast
     * &gt; 0 (the previous step must have gone from sigmaLast to sigma), third order when sigmaLast2 &gt; 0
     * too; the SDE variant's noise is keyed by the step's index since {@link #sampleBegin}, not by t.
     */
    void sampleStepDpmSolverSigmas(int t, double sigma, double sigmaNext, double sigmaLast, double sigmaLast2,
                                   boolean sde, float x0Clip);

    /** Replaces the current images (n * C*H*W), e.g. with a given x_T. */
    void sampleSetX(float[] x);

    /**
     * RePaint inpainting: the known images and where they are kept (each n * C*H*W; keep in [0, 1], 1 = the
     * known pixel) of the images begun by the last {@link #sampleBegin}.
     */
    void sampleSetKnown(float[] known, float[] keep);

    /**
     * One RePaint step from t to tPrev (-1: to x_0): the DDIM step with noise eta and x_0 clipped to
     * [-x0Clip, x0Clip] (0: not), then the known pixels noised to tPrev blended in where they are kept.
     */
    void sampleStepRepaint(int t, int tPrev, double eta, float x0Clip);

    /** RePaint's jump back: x = sqrt(1 - beta_s) x + sqrt(beta_s) z for s = t .. t + span - 1, fresh noise each. */
    void sampleUndo(int t, int span);

    /**
     * Image-to-image's start: where keep is 1 the images become the known ones of {@link #sampleSetKnown} noised
     * to t, sqrt(abar_t) x0 + sqrt(1 - abar_t) z, fresh noise z.
     */
    void sampleNoiseKnown(int t);

    /** The current images, n * C*H*W, optionally clipped to [-1, 1]. */
    float[] sampleRead(boolean clip);

    @Override
    void close();
}
