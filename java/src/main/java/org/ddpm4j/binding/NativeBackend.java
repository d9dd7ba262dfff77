package org.ddpm4j.binding;

import java.util.ArrayList;
import java.util.List;
import org.ddpm4j.backend.Backend;
import org.ddpm4j.backend.OpKernel;
import org.ddpm4j.backend.Precision;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;

/** Owner of a native ddpm::Backend (CPU or CUDA). Closing it closes the models still open on it. */
final class NativeBackend implements Backend {
    private DdpmCpu.Backend ptr;
    private final String name;
    private final String deviceName;
    private final int threads;
    private final Precision precision;
    private final List<NativeUNet> models = new ArrayList<>();

    NativeBackend(DdpmCpu.Backend ptr, Precision precision) {
        this.ptr = ptr;
        this.precision = precision;
        this.name = ptr.name();
        this.deviceName = ptr.device_name();
        this.threads = ptr.threads();
    }

    DdpmCpu.Backend pointer() {
        if (ptr == null) throw new IllegalStateException("backend " + name + " is closed");
        return ptr;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String deviceName() {
        return deviceName;
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public Precision precision() {
        return precision;
    }

    @Override
    public synchronized UNet createUNet(UNetConfig config, int maxBatch) {
        NativeUNet net = new NativeUNet(this, config, maxBatch);
        models.add(net);
        return net;
    }

    /** See {@link Backends#prepareOp}. */
    OpKernel prepareOp(String kind, int n, int cin, int cout, int h, int w) {
        DdpmCpu.OpBench op = new DdpmCpu.OpBench(pointer(), kind, n, cin, cout, h, w);
        return new OpKernel() {
            @Override public void run() { op.run(); }
            @Override public void synchronize() { op.synchronize(); }
            @Override public double flops() { return op.flops(); }
            @Override public double bytes() { return op.bytes(); }
            @Override public void close() { op.close(); }
        };
    }

    synchronized void forget(NativeUNet net) {
        models.remove(net);
    }

    @Override
    public synchronized void close() {
        if (ptr == null) return;
        for (NativeUNet m : new ArrayList<>(models)) m.close();
        DdpmCpu.destroy_backend(ptr);
        ptr = null;
    }

    @Override
    public String toString() {
        return name + " (" + deviceName + ")";
    }
}
