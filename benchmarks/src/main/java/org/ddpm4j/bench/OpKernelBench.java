package org.ddpm4j.bench;

import org.ddpm4j.backend.OpKernel;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.TearDown;

/**
 * A benchmark of one prepared backend op: subclasses open the backend and
 * prepare {@link #op} in their @Setup; every measured method is {@link #runOp()}.
 * The op is closed before the backend.
 */
public abstract class OpKernelBench extends BackendBench {

    protected OpKernel op;

    /** One run of the op, waited for on the device so GPU timings are honest. */
    protected final void runOp() {
        op.run();
        op.synchronize();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (op != null) op.close();
        op = null;
        closeBackend();
    }
}
