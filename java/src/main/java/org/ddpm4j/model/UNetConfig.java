package org.ddpm4j.model;

import org.ddpm4j.diffusion.NoiseSchedule;
import org.ddpm4j.diffusion.Prediction;

/**
 * Shape and schedule of the seed UNet (see native/include/ddpm/unet.h).
 *
 * @param inChannels image channels (1 or 3)
 * @param height image height
 * @param width image width
 * @param baseWidth channels of the first level; level i has baseWidth * 2^i
 * @param depth number of down (and up) steps
 * @param timeDim width of the frozen sinusoidal time embedding
 * @param timesteps diffusion steps T
 * @param betaStart first beta of the linear schedule
 * @param betaEnd last beta of the linear schedule
 * @param schedule the beta schedule (linear from betaStart to betaEnd, or cosine)
 * @param numClasses 0: unconditional; K &gt; 0: class-conditional on K classes (a learned class
 *     embedding with a null class K for classifier-free guidance); {@link #CLASSES_FROM_DATA}:
 *     conditional on as many classes as the training data has (a training request; resolved
 *     when the data is loaded, never passed to a backend)
 * @param prediction what the network predicts: the noise (the notebook's) or v
 */
public record UNetConfig(int inChannels, int height, int width, int baseWidth, int depth, int timeDim,
                         int timesteps, float betaStart, float betaEnd, NoiseSchedule schedule, int numClasses,
                         Prediction prediction) {

    public static final float BN_MOMENTUM = 0.1f;
    public static final float BN_EPS = 1e-5f;
    public static final int CLASSES_FROM_DATA = -1;

    public UNetConfig {
        if (schedule == null) throw new IllegalArgumentException("UNetConfig: schedule is null");
        if (prediction == null) throw new IllegalArgumentException("UNetConfig: prediction is null");
        if (numClasses < CLASSES_FROM_DATA) throw new IllegalArgumentException("UNetConfig: numClasses must be >= 0, got " + numClasses);
    }

    /** An unconditional model with linear betas (the notebook's kind). */
    public UNetConfig(int inChannels, int height, int width, int baseWidth, int depth, int timeDim, int timesteps,
                      float betaStart, float betaEnd) {
        this(inChannels, height, width, baseWidth, depth, timeDim, timesteps, betaStart, betaEnd, NoiseSchedule.LINEAR, 0,
                Prediction.EPSILON);
    }

    /** The seed notebook's model for CIFAR-10: 3x32x32, base 64, depth 4, time_dim 100, T = 1000. */
    public static UNetConfig seed() {
        return new UNetConfig(3, 32, 32, 64, 4, 100, 1000, 1e-4f, 0.02f);
    }

    public UNetConfig withBaseWidth(int b) {
        return new UNetConfig(inChannels, height, width, b, depth, timeDim, timesteps, betaStart, betaEnd, schedule, numClasses, prediction);
    }

    public UNetConfig withDepth(int d) {
        return new UNetConfig(inChannels, height, width, baseWidth, d, timeDim, timesteps, betaStart, betaEnd, schedule, numClasses, prediction);
    }

    public UNetConfig withImage(int channels, int h, int w) {
        return new UNetConfig(channels, h, w, baseWidth, depth, timeDim, timesteps, betaStart, betaEnd, schedule, numClasses, prediction);
    }

    public UNetConfig withTimeDim(int d) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, d, timesteps, betaStart, betaEnd, schedule, numClasses, prediction);
    }

    public UNetConfig withTimesteps(int t) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, timeDim, t, betaStart, betaEnd, schedule, numClasses, prediction);
    }

    public UNetConfig withSchedule(NoiseSchedule s) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, timeDim, timesteps, betaStart, betaEnd, s, numClasses, prediction);
    }

    public UNetConfig withNumClasses(int k) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, timeDim, timesteps, betaStart, betaEnd, schedule, k, prediction);
    }

    public UNetConfig withPrediction(Prediction p) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, timeDim, timesteps, betaStart, betaEnd, schedule, numClasses, p);
    }

    /** Whether the model is class-conditional. */
    public boolean conditional() {
        return numClasses > 0 || numClasses == CLASSES_FROM_DATA;
    }

    /** Elements of one image, C*H*W. */
    public int sampleSize() {
        return inChannels * height * width;
    }
}
