package org.ddpm4j.optim;

/**
 * Adam hyper-parameters (torch.optim.Adam semantics). The moments live in one
 * native buffer of the model, updated by one kernel per step.
 */
public record AdamConfig(float lr, float beta1, float beta2, float eps, float weightDecay) {

    /** torch.optim.Adam's defaults with the given learning rate. */
    public static AdamConfig withLr(float lr) {
        return new AdamConfig(lr, 0.9f, 0.999f, 1e-8f, 0.0f);
    }
}
