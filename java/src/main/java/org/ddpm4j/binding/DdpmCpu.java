package org.ddpm4j.binding;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.ByRef;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Namespace;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.StdString;
import org.bytedeco.javacpp.annotation.StdVector;

/**
 * JavaCPP binding of the native core (native/include/ddpm/{backend,unet,api}.h):
 * the CPU backend, the UNet and its training step and sampler. The JNI library
 * (libjniDdpmCpu.so) holds the whole core statically and is extracted from the
 * jar by {@link Loader#load()}. Only this package uses these classes directly;
 * the rest of the code goes through {@link NativeBackend} and {@link NativeUNet}.
 */
@Platform(include = {"ddpm/backend.h", "ddpm/unet.h", "ddpm/op_bench.h", "ddpm/api.h"}, library = "jniDdpmCpu")
@Namespace("ddpm")
public final class DdpmCpu {
    static {
        Loader.load();
    }

    private DdpmCpu() {}

    /** ddpm::Backend: an abstract compute backend (CPU, or CUDA from {@link DdpmCuda}). */
    public static class Backend extends Pointer {
        static {
            Loader.load();
        }

        public Backend(Pointer p) {
            super(p);
        }

        public native @StdString String name();

        public native @StdString String device_name();

        public native int threads();

        public native void synchronize();

        public native Pointer alloc_host(@Cast("size_t") long bytes);

        public native void free_host(Pointer p);
    }

    /** ddpm::UNetConfig. */
    public static class UNetConfig extends Pointer {
        static {
            Loader.load();
        }

        public UNetConfig() {
            super((Pointer) null);
            allocate();
        }

        private native void allocate();

        public native int in_channels(); public native UNetConfig in_channels(int v);
        public native int height(); public native UNetConfig height(int v);
        public native int width(); public native UNetConfig width(int v);
        public native int base_width(); public native UNetConfig base_width(int v);
        public native int depth(); public native UNetConfig depth(int v);
        public native int time_dim(); public native UNetConfig time_dim(int v);
        public native int timesteps(); public native UNetConfig timesteps(int v);
        public native float beta_start(); public native UNetConfig beta_start(float v);
        public native float beta_end(); public native UNetConfig beta_end(float v);
        public native float bn_momentum(); public native UNetConfig bn_momentum(float v);
        public native float bn_eps(); public native UNetConfig bn_eps(float v);
        public native int schedule(); public native UNetConfig schedule(int v);
        public native int num_classes(); public native UNetConfig num_classes(int v);
        public native int prediction(); public native UNetConfig prediction(int v);
    }

    /** ddpm::AdamParams. */
    public static class AdamParams extends Pointer {
        static {
            Loader.load();
        }

        public AdamParams() {
            super((Pointer) null);
            allocate();
        }

        private native void allocate();

        public native double lr(); public native AdamParams lr(double v);
        public native double beta1(); public native AdamParams beta1(double v);
        public native double beta2(); public native AdamParams beta2(double v);
        public native double eps(); public native AdamParams eps(double v);
        public native double weight_decay(); public native AdamParams weight_decay(double v);
        public native @Cast("bool") boolean decoupled_weight_decay(); public native AdamParams decoupled_weight_decay(@Cast("bool") boolean v);
        public native @Cast("int64_t") long step(); public native AdamParams step(long v);
    }

    /** ddpm::UNet: parameters, activations and state of one model on one backend. */
    public static class UNet extends Pointer {
        static {
            Loader.load();
        }

        public UNet(Backend backend, UNetConfig config, int maxBatch) {
            super((Pointer) null);
            allocate(backend, config, maxBatch);
        }

        private native void allocate(@ByRef Backend backend, @Const @ByRef UNetConfig config, int maxBatch);

        public native int max_batch();
        public native @Cast("int64_t") long sample_size();
        public native int num_param_tensors();
        public native @Cast("int64_t") long num_params();
        public native int num_buffer_tensors();
        public native @Cast("int64_t") long num_buffers();
        public native @Cast("int64_t") long backend_bytes();

        public native void init(@Cast("uint64_t") long seed);
        public native void get_params(float[] host);
        public native void set_params(@Const float[] host);
        public native void get_grads(float[] host);
        public native void get_adam_state(float[] host);
        public native void set_adam_state(@Const float[] host);
        public native void get_buffers(float[] host);
        public native void set_buffers(@Const float[] host);
        public native void get_time_table(float[] host);
        public native void set_time_table(@Const float[] host);
        public native @Cast("int64_t") long adam_step();
        public native void set_adam_step(@Cast("int64_t") long s);
        public native @Cast("int64_t") long bn_batches();
        public native void set_bn_batches(@Cast("int64_t") long s);

        public native void set_ema(double decay);
        public native double ema_decay();
        public native @Cast("bool") boolean has_ema();
        public native void get_ema_params(float[] host);
        public native void set_ema_params(@Const float[] host);
        public native void get_ema_buffers(float[] host);
        public native void set_ema_buffers(@Const float[] host);
        public native void swap_ema();
        public native void snapshot_begin(FloatPointer params, FloatPointer buffers, FloatPointer adam, FloatPointer ema,
                                          FloatPointer table);
        public native void snapshot_wait();
        public native void set_cond_drop(double p);
        public native void set_max_grad_norm(double maxNorm);
        public native void set_ema_power(double power);
        public native void set_snr_gamma(double gamma);

        public native void forward_host(@Const float[] x, @Cast("const int32_t*") int[] t, float[] out, int n,
                                        @Cast("bool") boolean training);
        public native void forward_host(@Const float[] x, @Cast("const int32_t*") int[] t,
                                        @Cast("const int32_t*") int[] labels, float[] out, int n,
                                        @Cast("bool") boolean training);
        public native void backward_host(@Const float[] dout, float[] dx, int n);
        public native void predict_noise_host(@Const float[] x, @Cast("const int32_t*") int[] t,
                                              @Cast("const int32_t*") int[] labels, float[] out, int n);

        public native void train_step(@Cast("const uint8_t*") byte[] pixels, @Cast("const uint8_t*") byte[] flips,
                                      int n, @Const @ByRef AdamParams hp, @Cast("uint64_t") long seed,
                                      @Cast("int64_t") long step);
        public native void train_step(@Cast("const uint8_t*") byte[] pixels, @Cast("const uint8_t*") byte[] flips,
                                      @Cast("const int32_t*") int[] labels, int n, @Const @ByRef AdamParams hp,
                                      @Cast("uint64_t") long seed, @Cast("int64_t") long step);
        public native void read_losses(float[] host, @Cast("int64_t") long firstStep, int count);
        public native void read_grad_norms(float[] host, @Cast("int64_t") long firstStep, int count);

        public native void sample_begin(int n, @Cast("uint64_t") long seed, @Cast("int64_t") long firstIndex);
        public native void sample_step(int t);
        public native void sample_step(int t, float x0Clip);
        public native void sample_read(float[] host, @Cast("bool") boolean clip);
        public native void sample_set_labels(@Cast("const int32_t*") int[] labels, float guidance);
        public native void sample_step_ddim(int t, int tPrev, double eta, float x0Clip);
        public native void sample_step_dpm_solver(int t, int tNext, int tLast, @Cast("bool") boolean sde, float x0Clip,
                                                  int tLast2);
        public native void sample_step_dpm_solver_sigmas(int t, double sigma, double sigmaNext, double sigmaLast,
                                                         @Cast("bool") boolean sde, float x0Clip, double sigmaLast2);
        public native void sample_set_x(@Const float[] host);
        public native void sample_set_known(@Const float[] x0, @Const float[] keep);
        public native void sample_step_repaint(int t, int tPrev, double eta, float x0Clip);
        public native void sample_undo(int t, int span);
        public native void sample_noise_known(int t);
    }

    /** ddpm::OpBench: one op prepared with its own buffers, for benchmarks. */
    public static class OpBench extends Pointer {
        static {
            Loader.load();
        }

        public OpBench(Backend backend, String kind, int n, int cin, int cout, int h, int w) {
            super((Pointer) null);
            allocate(backend, kind, n, cin, cout, h, w);
        }

        private native void allocate(@ByRef Backend backend, @StdString String kind, int n, int cin, int cout, int h,
                                     int w);

        public native void run();

        public native void synchronize();

        public native double flops();

        public native double bytes();
    }

    public static native Backend create_cpu_backend(int threads);

    /** The CPU backend with precision "fp32", "tf32" (= fp32 on the CPU) or "bf16" (needs AVX512_BF16; see ddpm/api.h). */
    @Namespace("api") public static native Backend create_cpu_backend_named(int threads, @StdString String precision);

    public static native void destroy_backend(Backend backend);

    public static native void validate(@Const @ByRef UNetConfig config);

    public static native void sinusoidal_table(int timesteps, int dim, float[] out);

    /** The DDIM sampler's timesteps, descending (ddpm::ddim_timesteps). */
    public static native @StdVector int[] ddim_timesteps(int timesteps, int steps);

    /** The DPM-Solver++ sampler's timesteps, descending (ddpm::dpm_solver_timesteps). */
    public static native @StdVector int[] dpm_solver_timesteps(int timesteps, int steps);

    /** The EMA decay of update number {@code update} with warm-up (ddpm::ema_decay_at). */
    public static native double ema_decay_at(double decay, @Cast("int64_t") long update);

    @Namespace("api") public static native @StdString String version();

    /** UNet::kLossRing: the losses of this many last training steps stay readable. */
    @Namespace("api") public static native int loss_ring();

    @Namespace("api") public static native @StdString String tensor_name(@Const @ByRef UNet net, int kind, int i);

    @Namespace("api") public static native @Cast("int64_t") long tensor_offset(@Const @ByRef UNet net, int kind, int i);

    @Namespace("api") public static native int tensor_rank(@Const @ByRef UNet net, int kind, int i);

    @Namespace("api") public static native @Cast("int64_t") long tensor_dim(@Const @ByRef UNet net, int kind, int i, int d);

    /** The Karras levels of a DPM-Solver++ run of {@code steps} for the model's schedule (ddpm::karras_sigmas). */
    @Namespace("api") public static native @StdVector double[] karras_sigmas(@Const @ByRef UNet net, int steps);

    /** The model timestep at each of those levels (ddpm::timestep_of_sigma; they can repeat). */
    @Namespace("api") public static native @StdVector int[] karras_timesteps(@Const @ByRef UNet net, int steps);

    @Namespace("api") public static native int cuda_device_count();

    @Namespace("api") public static native @StdString String cuda_probe_error();

    @Namespace("api") public static native @StdString String preload_cuda_libraries(@StdString String dirs);
}
