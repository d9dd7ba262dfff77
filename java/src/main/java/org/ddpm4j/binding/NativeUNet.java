package org.ddpm4j.binding;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.ddpm4j.model.TensorInfo;
import org.ddpm4j.model.UNet;
import org.ddpm4j.model.UNetConfig;
import org.ddpm4j.optim.AdamConfig;

/** Owner of a native ddpm::UNet; see {@link UNet}. */
final class NativeUNet implements UNet {
    private final NativeBackend backend;
    private final UNetConfig config;
    private DdpmCpu.UNet ptr;
    private final List<TensorInfo> params;
    private final List<TensorInfo> buffers;
    private final long numParams;
    private final long numBuffers;
    private final int maxBatch;
    private final DdpmCpu.AdamParams adam = new DdpmCpu.AdamParams();

    NativeUNet(NativeBackend backend, UNetConfig config, int maxBatch) {
        this.backend = backend;
        this.config = config;
        this.maxBatch = maxBatch;
        try (DdpmCpu.UNetConfig c = toNative(config)) {
            this.ptr = new DdpmCpu.UNet(backend.pointer(), c, maxBatch);
        }
        this.numParams = ptr.num_params();
        this.numBuffers = ptr.num_buffers();
        this.params = table(0, ptr.num_param_tensors());
        this.buffers = table(1, ptr.num_buffer_tensors());
    }

    static DdpmCpu.UNetConfig toNative(UNetConfig c) {
        DdpmCpu.UNetConfig n = new DdpmCpu.UNetConfig();
        n.in_channels(c.inChannels()).height(c.height()).width(c.width()).base_width(c.baseWidth())
                .depth(c.depth()).time_dim(c.timeDim()).timesteps(c.timesteps()).beta_start(c.betaStart())
                .beta_end(c.betaEnd()).bn_momentum(UNetConfig.BN_MOMENTUM).bn_eps(UNetConfig.BN_EPS)
                .schedule(c.schedule().code).num_classes(c.numClasses());
        return n;
    }

    private List<TensorInfo> table(int kind, int count) {
        List<TensorInfo> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int rank = DdpmCpu.tensor_rank(ptr, kind, i);
            long[] shape = new long[rank];
            for (int d = 0; d < rank; d++) shape[d] = DdpmCpu.tensor_dim(ptr, kind, i, d);
            out.add(new TensorInfo(DdpmCpu.tensor_name(ptr, kind, i), DdpmCpu.tensor_offset(ptr, kind, i), shape));
        }
        return Collections.unmodifiableList(out);
    }

    private DdpmCpu.UNet p() {
        if (ptr == null) throw new IllegalStateException("the UNet is closed");
        return ptr;
    }

    private static float[] sized(float[] into, long n, String what) {
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException(what + " has " + n + " floats, too many for a Java array");
        if (into == null) return new float[(int) n];
        if (into.length != n) throw new IllegalArgumentException(what + ": expected " + n + " floats, got " + into.length);
        return into;
    }

    private void checkBatch(int n, String what) {
        if (n < 1 || n > maxBatch) throw new IllegalArgumentException(what + ": batch " + n + " is outside [1, " + maxBatch + "]");
    }

    @Override public UNetConfig config() { return config; }
    @Override public int maxBatch() { return maxBatch; }
    @Override public String backendName() { return backend.name(); }
    @Override public long numParams() { return numParams; }
    @Override public List<TensorInfo> params() { return params; }
    @Override public List<TensorInfo> buffers() { return buffers; }
    @Override public long numBuffers() { return numBuffers; }
    @Override public long backendBytes() { return p().backend_bytes(); }
    @Override public void init(long seed) { p().init(seed); }

    @Override
    public float[] params(float[] into) {
        float[] a = sized(into, numParams, "params");
        p().get_params(a);
        return a;
    }

    @Override
    public void setParams(float[] values) {
        p().set_params(sized(values, numParams, "setParams"));
    }

    @Override
    public float[] grads(float[] into) {
        float[] a = sized(into, numParams, "grads");
        p().get_grads(a);
        return a;
    }

    @Override
    public float[] adamState(float[] into) {
        float[] a = sized(into, 2 * numParams, "adamState");
        p().get_adam_state(a);
        return a;
    }

    @Override
    public void setAdamState(float[] values) {
        p().set_adam_state(sized(values, 2 * numParams, "setAdamState"));
    }

    @Override
    public float[] bufferValues(float[] into) {
        float[] a = sized(into, numBuffers, "bufferValues");
        p().get_buffers(a);
        return a;
    }

    @Override
    public void setBufferValues(float[] values) {
        p().set_buffers(sized(values, numBuffers, "setBufferValues"));
    }

    @Override
    public float[] timeTable(float[] into) {
        float[] a = sized(into, (long) config.timesteps() * config.timeDim(), "timeTable");
        p().get_time_table(a);
        return a;
    }

    @Override
    public void setTimeTable(float[] values) {
        p().set_time_table(sized(values, (long) config.timesteps() * config.timeDim(), "setTimeTable"));
    }

    @Override public long adamStep() { return p().adam_step(); }
    @Override public void setAdamStep(long step) { p().set_adam_step(step); }
    @Override public long bnBatches() { return p().bn_batches(); }
    @Override public void setBnBatches(long batches) { p().set_bn_batches(batches); }
    @Override public void setEma(double decay) { p().set_ema(decay); }
    @Override public boolean hasEma() { return p().has_ema(); }
    @Override public void swapEma() { p().swap_ema(); }
    @Override public void setCondDrop(double prob) { p().set_cond_drop(prob); }

    @Override
    public float[] emaParams(float[] into) {
        float[] a = sized(into, numParams, "emaParams");
        p().get_ema_params(a);
        return a;
    }

    @Override
    public void setEmaParams(float[] values) {
        p().set_ema_params(sized(values, numParams, "setEmaParams"));
    }

    @Override
    public float[] emaBuffers(float[] into) {
        float[] a = sized(into, numBuffers, "emaBuffers");
        p().get_ema_buffers(a);
        return a;
    }

    @Override
    public void setEmaBuffers(float[] values) {
        p().set_ema_buffers(sized(values, numBuffers, "setEmaBuffers"));
    }

    @Override
    public float[] forward(float[] x, int[] t, int n, boolean training) {
        return forward(x, t, null, n, training);
    }

    @Override
    public float[] forward(float[] x, int[] t, int[] labels, int n, boolean training) {
        checkBatch(n, "forward");
        long size = (long) n * config.sampleSize();
        if (x.length != size) throw new IllegalArgumentException("forward: x must hold " + size + " floats, got " + x.length);
        if (t.length != n) throw new IllegalArgumentException("forward: t must hold " + n + " timesteps, got " + t.length);
        checkLabels(labels, n, "forward");
        float[] out = new float[(int) size];
        if (labels == null) p().forward_host(x, t, out, n, training);
        else p().forward_host(x, t, labels, out, n, training);
        return out;
    }

    private static void checkLabels(int[] labels, int n, String what) {
        if (labels != null && labels.length < n) {
            throw new IllegalArgumentException(what + ": labels must hold " + n + " values, got " + labels.length);
        }
    }

    @Override
    public float[] backward(float[] dout, int n, boolean wantDx) {
        long size = (long) n * config.sampleSize();
        if (dout.length != size) throw new IllegalArgumentException("backward: dout must hold " + size + " floats, got " + dout.length);
        float[] dx = wantDx ? new float[(int) size] : null;
        p().backward_host(dout, dx, n);
        return dx;
    }

    @Override
    public void trainStep(byte[] pixels, byte[] flips, int n, AdamConfig a, long seed, long step) {
        trainStep(pixels, flips, null, n, a, seed, step);
    }

    @Override
    public void trainStep(byte[] pixels, byte[] flips, int[] labels, int n, AdamConfig a, long seed, long step) {
        checkBatch(n, "trainStep");
        checkLabels(labels, n, "trainStep");
        long size = (long) n * config.sampleSize();
        if (pixels.length < size) throw new IllegalArgumentException("trainStep: pixels must hold " + size + " bytes, got " + pixels.length);
        if (flips != null && flips.length < n) throw new IllegalArgumentException("trainStep: flips must hold " + n + " bytes");
        adam.lr(a.lr()).beta1(a.beta1()).beta2(a.beta2()).eps(a.eps()).weight_decay(a.weightDecay());
        if (labels == null) p().train_step(pixels, flips, n, adam, seed, step);
        else p().train_step(pixels, flips, labels, n, adam, seed, step);
    }

    @Override
    public float[] losses(long firstStep, int count) {
        float[] out = new float[count];
        if (count > 0) p().read_losses(out, firstStep, count);
        return out;
    }

    @Override
    public void sampleBegin(int n, long seed, long firstIndex) {
        checkBatch(n, "sampleBegin");
        p().sample_begin(n, seed, firstIndex);
        sampleCount = n;
    }

    @Override
    public void sampleStep(int t) {
        p().sample_step(t);
    }

    @Override
    public void sampleStep(int t, float x0Clip) {
        p().sample_step(t, x0Clip);
    }

    private int sampleCount = 0;  // n of the last sampleBegin

    @Override
    public void sampleSetLabels(int[] labels, float guidance) {
        checkLabels(labels, sampleCount, "sampleSetLabels");
        p().sample_set_labels(labels, guidance);
    }

    @Override
    public void sampleStepDdim(int t, int tPrev, double eta, float x0Clip) {
        p().sample_step_ddim(t, tPrev, eta, x0Clip);
    }

    @Override
    public void sampleSetX(float[] x) {
        long size = (long) sampleCount * config.sampleSize();
        if (sampleCount == 0) throw new IllegalStateException("sampleSetX: call sampleBegin first");
        if (x.length != size) throw new IllegalArgumentException("sampleSetX: x must hold " + size + " floats, got " + x.length);
        p().sample_set_x(x);
    }

    @Override
    public float[] sampleRead(boolean clip) {
        if (sampleCount == 0) throw new IllegalStateException("sampleRead: call sampleBegin first");
        float[] out = new float[sampleCount * config.sampleSize()];
        p().sample_read(out, clip);
        return out;
    }

    @Override
    public synchronized void close() {
        if (ptr == null) return;
        ptr.close();
        ptr = null;
        adam.close();
        backend.forget(this);
    }
}
