package org.ddpm4j.backend;

/**
 * One backend op prepared with its own buffers, for benchmarks: {@link #run()}
 * enqueues it once, {@link #synchronize()} waits for the device.
 */
public interface OpKernel extends AutoCloseable {

    /** Kinds understood by {@code Backends.prepareOp} (binding). */
    String[] KINDS = {"block_forward", "block_backward", "adam", "noise_add", "reverse_step"};

    void run();

    void synchronize();

    /** Floating-point operations of one run (0 when not meaningful). */
    double flops();

    /** Least bytes one run moves through memory. */
    double bytes();

    @Override
    void close();
}
