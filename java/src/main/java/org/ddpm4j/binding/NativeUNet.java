package org.ddpm4j.binding;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.ddpm4j.model.NoiseLevels;
import org.ddpm4j.model.StateSnapshot;
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
                .schedule(c.schedule().code).num_classes(c.numClasses()).prediction(c.prediction().code);
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
    @Override public void setEmaPower(double power) { p().set_ema_power(power); }
    @Override public boolean hasEma() { return p().has_ema(); }
    @Override public void swapEma() { p().swap_ema(); }
    @Override public void setCondDrop(double prob) { p().set_cond_drop(prob); }
    @Override public void setMaxGradNorm(double maxNorm) { p().set_max_grad_norm(maxNorm); }
    @Override public void setSnrGamma(double gamma) { p().set_snr_gamma(gamma); }

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

    private final List<NativeSnapshot> snapshots = new ArrayList<>();

    @Override
    public synchronized StateSnapshot newSnapshot() {
        NativeSnapshot s = new NativeSnapshot(this);
        snapshots.add(s);
        return s;
    }

    @Override
    public void snapshotBegin(StateSnapshot into) {
        if (!(into instanceof NativeSnapshot s) || s.owner != this) {
            throw new IllegalArgumentException("snapshotBegin: the snapshot belongs to another model");
        }
        s.begin(p());
    }

    /** Host memory from the backend's alloc_host, one block cut into the checkpoint's sections. */
    static final class NativeSnapshot implements StateSnapshot {
        private final NativeUNet owner;
        private final DdpmCpu.Backend backend;
        private Pointer block;
        private final FloatPointer params, buffers, adam, ema, table;
        private final FloatBuffer paramsView, buffersView, adamView, emaParamsView, emaBuffersView, tableView;
        private long adamStep, bnBatches;

        NativeSnapshot(NativeUNet owner) {
            this.owner = owner;
            this.backend = owner.backend.pointer();
            long p = owner.numParams, b = owner.numBuffers, t = (long) owner.config.timesteps() * owner.config.timeDim();
            boolean withEma = owner.p().has_ema();
            long e = withEma ? p + b : 0;
            long total = p + b + 2 * p + e + t;
            block = backend.alloc_host(4 * total);
            FloatPointer all = new FloatPointer(block).capacity(total);
            long at = 0;
            params = slice(all, at, p);
            buffers = slice(all, at += p, b);
            adam = slice(all, at += b, 2 * p);
            ema = withEma ? slice(all, at += 2 * p, e) : null;
            table = slice(all, withEma ? at + e : at + 2 * p, t);
            paramsView = view(params);
            buffersView = view(buffers);
            adamView = view(adam);
            emaParamsView = ema == null ? null : view(ema).slice(0, (int) p);
            emaBuffersView = ema == null ? null : view(ema).slice((int) p, (int) b);
            tableView = view(table);
        }

        private static FloatPointer slice(FloatPointer all, long offset, long n) {
            return new FloatPointer(all.getPointer(offset)).capacity(n);
        }

        private static FloatBuffer view(FloatPointer p) {
            return p.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
        }

        void begin(DdpmCpu.UNet net) {
            if (block == null) throw new IllegalStateException("the snapshot is closed");
            adamStep = net.adam_step();
            bnBatches = net.bn_batches();
            net.snapshot_begin(params, buffers, adam, ema, table);
        }

        @Override public FloatBuffer params() { return paramsView.duplicate(); }
        @Override public FloatBuffer buffers() { return buffersView.duplicate(); }
        @Override public FloatBuffer adam() { return adamView.duplicate(); }
        @Override public FloatBuffer emaParams() { return emaParamsView == null ? null : emaParamsView.duplicate(); }
        @Override public FloatBuffer emaBuffers() { return emaBuffersView == null ? null : emaBuffersView.duplicate(); }
        @Override public FloatBuffer timeTable() { return tableView.duplicate(); }
        @Override public long adamStep() { return adamStep; }
        @Override public long bnBatches() { return bnBatches; }

        @Override
        public void await() {
            owner.p().snapshot_wait();
        }

        @Override
        public synchronized void close() {
            if (block == null) return;
            backend.free_host(block);
            block = null;
        }
    }

    @Override
    public float[] forward(float[] x, int[] t, int n, boolean training) {
        return forward(x, t, null, n, training);
    }

    @Override
    public float[] forward(float[] x, int[] t, int[] labels, int n, boolean training) {
        float[] out = forwardOutput(x, t, labels, n, "forward");
        if (labels == null) p().forward_host(x, t, out, n, training);
        else p().forward_host(x, t, labels, out, n, training);
        return out;
    }

    @Override
    public float[] predictNoise(float[] x, int[] t, int[] labels, int n) {
        float[] out = forwardOutput(x, t, labels, n, "predictNoise");
        p().predict_noise_host(x, t, labels, out, n);
        return out;
    }

    /** The inputs of an n-image forward pass checked, and the array for its output. */
    private float[] forwardOutput(float[] x, int[] t, int[] labels, int n, String what) {
        checkBatch(n, what);
        long size = (long) n * config.sampleSize();
        if (x.length != size) throw new IllegalArgumentException(what + ": x must hold " + size + " floats, got " + x.length);
        if (t.length != n) throw new IllegalArgumentException(what + ": t must hold " + n + " timesteps, got " + t.length);
        checkLabels(labels, n, what);
        return new float[(int) size];
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
        adam.lr(a.lr()).beta1(a.beta1()).beta2(a.beta2()).eps(a.eps()).weight_decay(a.weightDecay())
                .decoupled_weight_decay(a.decoupledWeightDecay());
        if (labels == null) p().train_step(pixels, flips, n, adam, seed, step);
        else p().train_step(pixels, flips, labels, n, adam, seed, step);
    }

    private static final int LOSS_RING = DdpmCpu.loss_ring();

    @Override
    public int lossRing() {
        return LOSS_RING;
    }

    @Override
    public float[] losses(long firstStep, int count) {
        float[] out = new float[count];
        if (count > 0) p().read_losses(out, firstStep, count);
        return out;
    }

    @Override
    public float[] gradNorms(long firstStep, int count) {
        float[] out = new float[count];
        if (count > 0) p().read_grad_norms(out, firstStep, count);
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
    public void sampleStepDpmSolver(int t, int tNext, int tLast, int tLast2, boolean sde, float x0Clip) {
        p().sample_step_dpm_solver(t, tNext, tLast, sde, x0Clip, tLast2);
    }

    @Override
    public NoiseLevels karrasLevels(int steps) {
        return new NoiseLevels(DdpmCpu.karras_sigmas(p(), steps), DdpmCpu.karras_timesteps(p(), steps));
    }

    @Override
    public void sampleStepDpmSolverSigmas(int t, double sigma, double sigmaNext, double sigmaLast, double sigmaLast2,
                                          boolean sde, float x0Clip) {
        p().sample_step_dpm_solver_sigmas(t, sigma, sigmaNext, sigmaLast, sde, x0Clip, sigmaLast2);
    }

    @Override
    public void sampleSetX(float[] x) {
        long size = (long) sampleCount * config.sampleSize();
        if (sampleCount == 0) throw new IllegalStateException("sampleSetX: call sampleBegin first");
        if (x.length != size) throw new IllegalArgumentException("sampleSetX: x must hold " + size + " floats, got " + x.length);
        p().sample_set_x(x);
    }

    @Override
    public void sampleSetKnown(float[] known, float[] keep) {
        long size = (long) sampleCount * config.sampleSize();
        if (sampleCount == 0) throw new IllegalStateException("sampleSetKnown: call sampleBegin first");
        if (known.length != size || keep.length != size) {
            throw new IllegalArgumentException("sampleSetKnown: known and keep must hold " + size + " floats each, got "
                    + known.length + " and " + keep.length);
        }
        p().sample_set_known(known, keep);
    }

    @Override
    public void sampleStepRepaint(int t, int tPrev, double eta, float x0Clip) {
        p().sample_step_repaint(t, tPrev, eta, x0Clip);
    }

    @Override
    public void sampleUndo(int t, int span) {
        p().sample_undo(t, span);
    }

    @Override
    public void sampleNoiseKnown(int t) {
        p().sample_noise_known(t);
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
        for (NativeSnapshot s : snapshots) s.close();  // their host memory belongs to the backend
        snapshots.clear();
        ptr.close();
        ptr = null;
        adam.close();
        backend.forget(this);
    }
}
