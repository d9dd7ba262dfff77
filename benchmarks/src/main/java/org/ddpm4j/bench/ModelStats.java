package org.ddpm4j.bench;

import org.ddpm4j.model.UNetConfig;

/**
 * Size and cost of the seed UNet architecture (native/include/ddpm/unet.h,
 * scripts/seed_unet.py): trainable parameters and the forward FLOPs of one
 * image counted as scripts/seed_unet.py's gflops_forward does (multiply-adds x 2
 * of the convolutions, transposed convolutions and linears). The seed model:
 * 33,078,526 trainable parameters, 1.5096 GFLOP forward per 3x32x32 image.
 */
final class ModelStats {
    private ModelStats() {}

    private static int[] widths(UNetConfig c) {
        int[] w = new int[c.depth() + 1];
        for (int i = 0; i <= c.depth(); i++) w[i] = c.baseWidth() << i;
        return w;
    }

    private static long doubleConvParams(long cin, long cout) {
        return cin * cout * 9 + cout + 2 * cout + cout * cout * 9 + cout + 2 * cout;
    }

    private static long mlpParams(long td, long c) {
        return td * c + c + c * c + c;
    }

    /** Trainable parameters (the frozen time table excluded). */
    static long params(UNetConfig c) {
        int[] w = widths(c);
        int d = c.depth();
        long td = c.timeDim();
        long p = doubleConvParams(c.inChannels(), w[0]) + mlpParams(td, c.inChannels());
        for (int i = 1; i <= d; i++) p += doubleConvParams(w[i - 1], w[i]) + mlpParams(td, w[i - 1]);
        for (int j = 1; j <= d; j++) {
            long cin = w[d - j + 1], cout = w[d - j];
            p += cin * cout * 4 + cout + doubleConvParams(cin, cout) + mlpParams(td, cin);
        }
        return p + (long) w[0] * c.inChannels() + c.inChannels();
    }

    private static double conv3(double cin, double cout, double hw) {
        return 2.0 * cin * cout * 9 * hw;
    }

    private static double mlp(double td, double c) {
        return 2.0 * (td * c + c * c);
    }

    /** FLOPs of one image's forward pass. */
    static double forwardFlops(UNetConfig c) {
        int[] w = widths(c);
        int d = c.depth();
        double td = c.timeDim();
        int[] hs = new int[d + 1], ws = new int[d + 1];
        hs[0] = c.height();
        ws[0] = c.width();
        for (int i = 1; i <= d; i++) {
            hs[i] = hs[i - 1] / 2;
            ws[i] = ws[i - 1] / 2;
        }
        double f = conv3(c.inChannels(), w[0], (double) hs[0] * ws[0]) + conv3(w[0], w[0], (double) hs[0] * ws[0])
                + mlp(td, c.inChannels());
        for (int i = 1; i <= d; i++) {
            double hw = (double) hs[i] * ws[i];
            f += conv3(w[i - 1], w[i], hw) + conv3(w[i], w[i], hw) + mlp(td, w[i - 1]);
        }
        for (int j = 1; j <= d; j++) {
            int lin = d - j + 1, lout = d - j;
            double inHw = (double) hs[lin] * ws[lin], outHw = (double) hs[lout] * ws[lout];
            f += 2.0 * w[lin] * inHw * w[lout] * 4;                                // ConvTranspose2d(2, stride 2)
            f += conv3(w[lin], w[lout], outHw) + conv3(w[lout], w[lout], outHw);  // cat -> double conv
            f += mlp(td, w[lin]);
        }
        return f + 2.0 * w[0] * c.inChannels() * hs[0] * ws[0];                  // 1x1 last conv
    }

    /** FLOPs of one image's training step, the usual 3x forward (forward, input and weight gradients). */
    static double trainFlops(UNetConfig c) {
        return 3 * forwardFlops(c);
    }
}
