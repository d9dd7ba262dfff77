package org.ddpm4j.optim;

/**
 * Adam hyper-parameters (torch.optim.Adam semantics). Doubles, as PyTorch holds
 * them, so derived constants (1 - beta2, lr / bias correction) round to float
 * exactly as torch's do. The moments live in one native buffer of the model,
 * updated by one kernel per step.
 */
public record AdamConfig(double lr, double beta1, double beta2, double eps, double weightDecay) {

    /** torch.optim.Adam's defaults with the given learning rate. */
    public static AdamConfig withLr(double lr) {
        return new AdamConfig(lr, 0.9, 0.999, 1e-8, 0.0);
    }

    /** The same with another learning rate (a scheduled step's). */
    public AdamConfig withRate(double rate) {
        return new AdamConfig(rate, beta1, beta2, eps, weightDecay);
    }

    /** The learning rate as its shortest plain decimal (0.0001, 1000000000), as a user would type it. */
    public String lrText() {
        return new java.math.BigDecimal(Double.toString(lr)).stripTrailingZeros().toPlainString();
    }
}
