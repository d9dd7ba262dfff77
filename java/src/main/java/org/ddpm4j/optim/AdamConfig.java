package org.ddpm4j.optim;

/**
 * Adam hyper-parameters (torch.optim.Adam semantics, or torch.optim.AdamW's with
 * {@link Optimizer#ADAMW}). Doubles, as PyTorch holds them, so derived constants
 * (1 - beta2, lr / bias correction, 1 - lr * weight decay) round to float exactly as
 * torch's do. The moments live in one native buffer of the model, updated by one
 * kernel per step.
 */
public record AdamConfig(double lr, double beta1, double beta2, double eps, double weightDecay, Optimizer optimizer) {

    public AdamConfig {
        if (optimizer == null) throw new IllegalArgumentException("no optimizer (ADAM or ADAMW)");
    }

    /** Adam with torch.optim.Adam's defaults and the given learning rate. */
    public static AdamConfig withLr(double lr) {
        return new AdamConfig(lr, 0.9, 0.999, 1e-8, 0.0, Optimizer.ADAM);
    }

    /** The same with another learning rate (a scheduled step's). */
    public AdamConfig withRate(double rate) {
        return new AdamConfig(rate, beta1, beta2, eps, weightDecay, optimizer);
    }

    /** The same with other values for the rest (the learning rate kept). */
    public AdamConfig with(Optimizer kind, double b1, double b2, double epsilon, double decay) {
        return new AdamConfig(lr, b1, b2, epsilon, decay, kind);
    }

    /** AdamW: the weight decay shrinks the weights apart from the gradient (torch.optim.AdamW). */
    public boolean decoupledWeightDecay() {
        return optimizer == Optimizer.ADAMW;
    }

    /** Unless torch's Adam defaults: "AdamW (betas 0.95/0.999, eps 1E-8, weight decay 0.000001)"; else "". */
    public String describe() {
        AdamConfig d = withLr(lr);
        if (equals(d)) return "";
        return optimizer.displayName() + " (betas " + text(beta1) + "/" + text(beta2) + ", eps " + text(eps) + ", weight decay "
                + text(weightDecay) + ")";
    }

    private static String text(double x) {
        return new java.math.BigDecimal(Double.toString(x)).stripTrailingZeros().toString();
    }

    /** The learning rate as its shortest plain decimal (0.0001, 1000000000), as a user would type it. */
    public String lrText() {
        return new java.math.BigDecimal(Double.toString(lr)).stripTrailingZeros().toPlainString();
    }
}
