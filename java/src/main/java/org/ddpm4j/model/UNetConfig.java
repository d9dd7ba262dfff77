package org.ddpm4j.model;

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
 */
public record UNetConfig(int inChannels, int height, int width, int baseWidth, int depth, int timeDim,
                         int timesteps, float betaStart, float betaEnd) {

    public static final float BN_MOMENTUM = 0.1f;
    public static final float BN_EPS = 1e-5f;

    /** The seed notebook's model for CIFAR-10: 3x32x32, base 64, depth 4, time_dim 100, T = 1000. */
    public static UNetConfig seed() {
        return new UNetConfig(3, 32, 32, 64, 4, 100, 1000, 1e-4f, 0.02f);
    }

    public UNetConfig withBaseWidth(int b) {
        return new UNetConfig(inChannels, height, width, b, depth, timeDim, timesteps, betaStart, betaEnd);
    }

    public UNetConfig withDepth(int d) {
        return new UNetConfig(inChannels, height, width, baseWidth, d, timeDim, timesteps, betaStart, betaEnd);
    }

    public UNetConfig withImage(int channels, int h, int w) {
        return new UNetConfig(channels, h, w, baseWidth, depth, timeDim, timesteps, betaStart, betaEnd);
    }

    public UNetConfig withTimeDim(int d) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, d, timesteps, betaStart, betaEnd);
    }

    public UNetConfig withTimesteps(int t) {
        return new UNetConfig(inChannels, height, width, baseWidth, depth, timeDim, t, betaStart, betaEnd);
    }

    /** Elements of one image, C*H*W. */
    public int sampleSize() {
        return inChannels * height * width;
    }
}
