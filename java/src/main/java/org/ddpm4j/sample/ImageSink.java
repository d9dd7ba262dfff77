package org.ddpm4j.sample;

/** Receives the final images of a sampling run chunk by chunk, in order (streaming outputs). */
@FunctionalInterface
public interface ImageSink {
    /** Images first .. first + chunk.count() - 1, clipped to [-1, 1]. */
    void accept(int first, Images chunk);
}
