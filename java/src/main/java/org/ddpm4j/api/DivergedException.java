package org.ddpm4j.api;

import org.ddpm4j.setting.SettingText;
/**
 * Training produced a non-finite loss or non-finite weights. The run stopped without writing a
 * checkpoint of the diverged model: the last good one is kept (the message says which step it
 * holds). A smaller learning rate usually helps.
 */
public final class DivergedException extends DdpmException {
    private final long step;

    public DivergedException(long step, String message, Throwable cause) {
        super(message, cause);
        this.step = step;
    }

    /** The global step whose loss (or the weights after which) was not finite. */
    /** A message that names settings (the learning rate to lower). */
    public DivergedException(long step, SettingText text, Throwable cause) {
        super(text, cause);
        this.step = step;
    }

    public long step() {
        return step;
    }
}
