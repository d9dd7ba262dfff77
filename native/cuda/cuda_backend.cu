// The CUDA backend: device memory, one stream, the cuDNN and cuBLAS handles,
// the pinned upload ring, and the ops of ops.h behind ddpm::Backend; plus
// the public entry points of ddpm/cuda.h.
//
// Rules kept by every op: work is only enqueued on the backend's stream;
// alloc() is the only allocation (except the cuDNN workspace, which grows
// the first time a convolution shape is seen, and cudnnFind's own buffers
// then); only download() and synchronize() wait for the device (again
// except the first use of a convolution shape, whose algorithm search is
// host blocking). Errors are thrown as ddpm::Error naming the op.
//
// Debugging: DDPM_CUDA_SYNC=1 synchronises after every op, so an
// asynchronous fault is reported by the op that caused it;
// DDPM_CUDA_VERBOSE=1 logs the cuDNN algorithm chosen for each shape.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common.cuh"
#include "conv.h"
#include "ddpm/cuda.h"
#include "ddpm/op_calls.h"
#include "ops.h"
#include "side_stream.h"
#include "step_graph.h"
#include "weight_cache.h"

namespace ddpm {
namespace cuda {

void throw_cuda(const char* op, const char* call, cudaError_t e) {
  const std::string fn = std::string(call).substr(0, std::string(call).find('('));
  throw Error(std::string("cuda ") + op + ": " + fn + " failed: " + cudaGetErrorString(e) + " (" +
              cudaGetErrorName(e) + ")");
}

void check_launch(const char* op) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw Error(std::string("cuda ") + op + ": kernel launch failed: " + cudaGetErrorString(e) + " (" +
                cudaGetErrorName(e) + ")");
}

namespace {

// A switch in the environment: on unless "0"; `unset` when not set.
bool env_flag(const char* name, bool unset = false) {
  const char* v = std::getenv(name);
  return v && *v ? std::strcmp(v, "0") != 0 : unset;
}

// CUDA versions: 1000 * major + 10 * minor.
std::string version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, Precision precision)
      : device_(device), precision_(precision), graphs_(graphs_enabled()) {
    const bool tf32 = precision != Precision::kFp32;  // TF32 GEMMs also in bf16 mode
    const char* op = "create_cuda_backend";
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error(std::string("cuda create_cuda_backend: no usable CUDA device: ") + cudaGetErrorString(e) + " (" +
                  cudaGetErrorName(e) + ")");
    }
    if (device < 0 || device >= count)
      throw Error("cuda create_cuda_backend: device " + std::to_string(device) + " does not exist (" +
                  std::to_string(count) + " CUDA devices)");
    try {
      DDPM_CUDA(op, cudaSetDevice(device));
      cudaDeviceProp prop;
      DDPM_CUDA(op, cudaGetDeviceProperties(&prop, device));
      if (prop.major < 8)
        throw Error("cuda create_cuda_backend: " + std::string(prop.name) + " has compute capability " +
                    std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                    "; this build carries code for 8.0 and newer");
      device_label_ = std::string(prop.name) + " (cuda:" + std::to_string(device) + ", sm_" +
                      std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
                      std::to_string(prop.multiProcessorCount) + " SMs, " + precision_name(precision) + ")";
      debug_sync_ = env_flag("DDPM_CUDA_SYNC");
      DDPM_CUDA(op, cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      graphs_.set_stream(stream_);
      ctx_.stream = stream_;
      ctx_.device = device;
      ctx_.sm_count = prop.multiProcessorCount;
      DDPM_CUDA(op, cudaMalloc(&ctx_.partials, sizeof(double) * 2 * kMaxPartials));
      DDPM_CUDA(op, cudaMalloc(&ctx_.coef, sizeof(float) * 8 * kMaxChannels));
      // The device-side error record, and its pinned host copy that every
      // synchronisation fetches in the same stream round trip.
      DDPM_CUDA(op, cudaMalloc(reinterpret_cast<void**>(&ctx_.error), sizeof(DeviceError)));
      DDPM_CUDA(op, cudaMemsetAsync(ctx_.error, 0, sizeof(DeviceError), stream_));
      DDPM_CUDA(op, cudaMallocHost(reinterpret_cast<void**>(&err_host_), sizeof(DeviceError)));
      std::memset(err_host_, 0, sizeof(DeviceError));
      DDPM_CUDA(op, cudaStreamSynchronize(stream_));
      DDPM_CUDA(op, cudaMallocHost(reinterpret_cast<void**>(&ring_), kRingBytes));
      ctx_.scratch = &scratch_;
      conv_ = std::make_unique<ConvEngine>(stream_, precision);
      ctx_.conv = conv_.get();
      // bf16 conv weights converted once per recorded step (weight_cache.h);
      // DDPM_CUDA_WEIGHT_CACHE=0 converts per call, as before.
      if (precision == Precision::kBf16 && env_flag("DDPM_CUDA_WEIGHT_CACHE", true)) {
        weights_ = std::make_unique<WeightCache>();
        ctx_.weights = weights_.get();
      }
      // Weight gradients on a second stream (side_stream.h); on an H200 the
      // bf16 batch-512 step ran 1.2-1.5% faster with it (3 measurements) and
      // passed the whole-UNet and step-graph checks. DDPM_CUDA_ASYNC_WGRAD=0: one stream.
      if (precision == Precision::kBf16 && env_flag("DDPM_CUDA_ASYNC_WGRAD", true)) {
        side_ = std::make_unique<SideStream>(stream_);
        conv_->set_side(side_->stream());
        ctx_.side = side_.get();
        side_regions_ = env_flag("DDPM_CUDA_SIDE_REGIONS", true);
      }
      // The Linear GEMMs' handle; the side regions' (side_begin) one of their
      // own, on the side stream, as they run beside the main's.
      open_cublas(cublas_, cublas_ws_, stream_, tf32, op);
      ctx_.cublas = cublas_;
      if (side_) open_cublas(cublas_side_, cublas_side_ws_, side_->stream(), tf32, op);
    } catch (...) {
      release();
      throw;
    }
  }

  // A cuBLAS handle on `stream`: TF32 tensor cores or IEEE fp32
  // (CUBLAS_DEFAULT_MATH never lowers precision), and a workspace of our own,
  // so cuBLAS never allocates inside an op. release() frees both.
  static void open_cublas(cublasHandle_t& h, void*& ws, cudaStream_t stream, bool tf32, const char* op) {
    cublasStatus_t s = cublasCreate(&h);
    if (s != CUBLAS_STATUS_SUCCESS) {
      h = nullptr;
      throw_cublas(op, "cublasCreate", s);
    }
    s = cublasSetStream(h, stream);
    if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(op, "cublasSetStream", s);
    s = cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(op, "cublasSetMathMode", s);
    DDPM_CUDA(op, cudaMalloc(&ws, kCublasWorkspace));
    s = cublasSetWorkspace(h, ws, kCublasWorkspace);
    if (s != CUBLAS_STATUS_SUCCESS) throw_cublas(op, "cublasSetWorkspace", s);
  }

  ~CudaBackend() override { release(); }

  // ---- identity -------------------------------------------------------------
  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return device_label_; }
  int threads() const override { return 1; }

  // ---- memory ------------------------------------------------------------------
  void* alloc(size_t bytes) override {
    enter();
    void* p = nullptr;
    const size_t rounded = bytes < 256 ? 256 : (bytes + 255) / 256 * 256;
    const cudaError_t e = cudaMalloc(&p, rounded);
    if (e == cudaSuccess && weights_) alloc_bytes_[p] = rounded;
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
      throw Error("cuda alloc: cannot allocate " + std::to_string(bytes) + " bytes (" +
                  std::to_string(free_b >> 20) + " of " + std::to_string(total_b >> 20) +
                  " MiB free): " + cudaGetErrorString(e));
    }
    return p;
  }

  // Never throws: free() runs in destructors (the UNet's, callers' RAII). A
  // failure here follows an earlier error that an op has already reported.
  void free(void* p) override {
    if (!p) return;
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != device_) cudaSetDevice(device_);
    if (side_) {  // a weight gradient may still read or write p
      try {
        side_->join_all("free");
      } catch (const Error&) {
      }
      cudaStreamSynchronize(side_->stream());
    }
    if (weights_) {  // the cached copies of weights in p go with it
      const auto it = alloc_bytes_.find(p);
      if (it != alloc_bytes_.end()) {
        weights_->forget(p, it->second);
        alloc_bytes_.erase(it);
      }
    }
    const cudaError_t e = cudaFree(p);
    if (e != cudaSuccess) {
      cudaGetLastError();
      std::fprintf(stderr, "ddpm cuda free: cudaFree failed: %s (%s)\n", cudaGetErrorString(e), cudaGetErrorName(e));
    }
  }

  // Stages through the pinned ring: the host buffer is free again on return,
  // the copy itself runs in stream order. A ring region is rewritten only
  // after the copy that read it has finished (its event).
  void upload(void* dst, const void* host_src, size_t bytes) override {
    const char* op = "upload";
    enter();
    not_in_step(op);
    side_join(op);
    char* d = static_cast<char*>(dst);
    const char* s = static_cast<const char*>(host_src);
    while (bytes > 0) {
      const size_t chunk = bytes < kRingChunk ? bytes : kRingChunk;
      const size_t need = (chunk + kRingAlign - 1) / kRingAlign * kRingAlign;
      const bool wrap = ring_head_ + need > kRingBytes;
      const size_t start = wrap ? 0 : ring_head_;
      // Wait for the newest pending copy whose staging area we would
      // overwrite (stream order: the older ones are then done too).
      int last = -1;
      for (int i = 0; i < static_cast<int>(pending_.size()); ++i) {
        const Pending& p = pending_[i];
        if (p.begin < start + need && start < p.end) last = i;
      }
      if (last >= 0) {
        DDPM_CUDA(op, cudaEventSynchronize(pending_[last].event));
        for (int i = 0; i <= last; ++i) retire_front();
      }
      std::memcpy(ring_ + start, s, chunk);
      DDPM_CUDA(op, cudaMemcpyAsync(d, ring_ + start, chunk, cudaMemcpyHostToDevice, stream_));
      cudaEvent_t ev = take_event(op);
      DDPM_CUDA(op, cudaEventRecord(ev, stream_));
      pending_.push_back(Pending{start, start + need, ev});
      ring_head_ = start + need;
      d += chunk;
      s += chunk;
      bytes -= chunk;
    }
    retire_completed();
    leave(op);
  }

  void download(void* host_dst, const void* src, size_t bytes) override {
    const char* op = "download";
    enter();
    not_in_step(op);
    side_join(op);
    if (bytes > 0) DDPM_CUDA(op, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    sync(op);
  }

  void copy(void* dst, const void* src, size_t bytes) override {
    enter();
    if (step_skip_memory("copy", dst, src, bytes)) return;
    side_join("copy");
    if (bytes > 0 && dst != src)
      DDPM_CUDA("copy", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    leave("copy");
  }

  void fill(float* dst, float value, size_t n) override {
    enter();
    if (step_skip_memory("fill", dst, value, n)) return;
    side_join("fill");
    ops::fill(ctx_, dst, value, n);
    leave("fill");
  }

  void synchronize() override {
    enter();
    not_in_step("synchronize");
    side_join("synchronize");
    sync("synchronize");
  }

  // ---- snapshots: pinned host memory, copies in stream order, one fence ----------
  void* alloc_host(size_t bytes) override {
    enter();
    void* p = nullptr;
    const cudaError_t e = cudaHostAlloc(&p, bytes < 64 ? 64 : bytes, cudaHostAllocDefault);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw Error("cuda alloc_host: cannot pin " + std::to_string(bytes) + " bytes of host memory: " + cudaGetErrorString(e));
    }
    return p;
  }
  void free_host(void* p) override {
    if (p && cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
  }
  // A snapshot's large copies (a checkpoint's parameters, Adam moments and
  // EMA: 0.5 GB for the seed model) go device to device into a staging
  // buffer in stream order (~0.4 ms on an H200), then to the host on a copy
  // stream of their own, beside the training steps that follow, instead of
  // holding the stream for the PCIe copy (~10 ms an epoch). The staging
  // buffer grows to a snapshot's size outside steps; without the memory, or
  // with DDPM_CUDA_SNAPSHOT_STAGE=0, copies go straight to the host in
  // stream order. The fence is recorded on the copy stream, after the main
  // stream's work so far.
  void download_async(void* host_dst, const void* src, size_t bytes) override {
    const char* op = "download_async";
    enter();
    not_in_step(op);
    side_join(op);
    if (bytes > 0 && !(snapshot_stage_ && bytes >= kStageMinBytes && stage_download(host_dst, src, bytes, op)))
      DDPM_CUDA(op, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    leave(op);
  }
  void fence_record() override {
    const char* op = "fence_record";
    enter();
    not_in_step(op);
    side_join(op);
    if (!fence_) DDPM_CUDA(op, cudaEventCreateWithFlags(&fence_, cudaEventDisableTiming));
    if (copy_stream_) {
      join_copy_stream(op);  // the copy stream's fence also covers the main stream's work so far
      DDPM_CUDA(op, cudaEventRecord(fence_, copy_stream_));
      stage_used_ = 0;  // the next snapshot's copies reuse the buffer once this fence has passed
      stage_fenced_ = true;
    } else {
      DDPM_CUDA(op, cudaEventRecord(fence_, stream_));
    }
  }
  void fence_wait() override {
    if (!fence_) return;
    const cudaError_t e = cudaEventSynchronize(fence_);
    if (e != cudaSuccess) throw_cuda("fence_wait", "cudaEventSynchronize", e);
  }

  // ---- step recording (CUDA graphs, step_graph.h) ---------------------------------
  void step_begin(uint64_t owner, uint64_t key) override {
    enter();
    side_join("step_begin");
    if (weights_) weights_->step_begin(stream_);  // first: a new table drops the recordings of the old
    graphs_.begin(owner, key);
    if (weights_) weights_->set_capturing(graphs_.capturing());
  }
  bool step_end() override {
    enter();
    side_join("step_end");  // a capture ends with every forked stream joined
    if (weights_) weights_->step_end();
    return graphs_.end();
  }
  void step_abort() override {
    if (side_) {
      try {
        side_end();  // a region the failure left open becomes a task, joined below
      } catch (const Error&) {
        region_open_ = false;
      }
      try {
        side_->join_all("step_abort");
      } catch (const Error&) {
      }
    }
    if (weights_) weights_->step_end();
    graphs_.abort();
  }
  void step_forget(uint64_t owner) override { graphs_.forget(owner); }
  std::string graph_stats() const { return graphs_.stats(); }
  std::string conv_stats() const {
    return std::to_string(conv_->graph_choices()) + " of " + std::to_string(conv_->searches()) +
           " searched convolution directions on cuDNN graph-API engines, " + std::to_string(conv_->plans()) +
           " shapes, workspace " + std::to_string(conv_->workspace_bytes() >> 20) + " MiB" +
           (weights_ ? ", bf16 weight copies " + std::to_string(weights_->weights()) + " (" +
                           std::to_string(weights_->bytes() >> 20) + " MiB, converted once a step)"
                     : std::string()) +
           (side_ ? std::string(", second stream: weight gradients") + (side_regions_ ? " and time MLPs" : "")
                  : std::string(", one stream")) +
           (snapshot_stage_ ? (stage_bytes_ ? ", snapshots staged (" + std::to_string(stage_bytes_ >> 20) + " MiB)"
                                            : std::string(", snapshots staged"))
                            : std::string(", snapshots in stream order"));
  }

  // ---- activation format --------------------------------------------------------
  ActivationFormat activation_format() const override {
    return bf16_mode() ? ActivationFormat::kBFloat16NHWC : ActivationFormat::kFloat32NCHW;
  }
  size_t activation_bytes(size_t elements) const override {
    return elements * (bf16_mode() ? sizeof(bf16) : sizeof(float));
  }
  void to_activation(const float* src, float* dst, int N, int C, int HW) override {
    if (!bf16_mode()) return Backend::to_activation(src, dst, N, C, HW);
    enter();
    // In a recorded step, recorded (capture) or skipped (replay) as copy and fill are: it
    // used to launch again on every replay, ahead of the graph that then redid it.
    if (step_skip_memory("to_activation", src, dst, N, C, HW)) return;
    side_access(src, dst, N, C, HW, /*dst_is_activation=*/true, "to_activation");
    ops::nhwc::to_activation(ctx_, src, act(dst), N, C, HW);
    leave("to_activation");
  }
  void from_activation(const float* src, float* dst, int N, int C, int HW) override {
    if (!bf16_mode()) return Backend::from_activation(src, dst, N, C, HW);
    enter();
    if (step_skip_memory("from_activation", src, dst, N, C, HW)) return;
    side_access(src, dst, N, C, HW, /*dst_is_activation=*/false, "from_activation");
    ops::nhwc::from_activation(ctx_, act(src), dst, N, C, HW);
    leave("from_activation");
  }

  // ---- the ops: one forwarder per entry of the op table ---------------------------
  // enter; in a recorded step, record or check the call's signature (and pass
  // its per-step scalars, see step_skip); launch ops::<op>, or its bf16 NHWC
  // twin ops::nhwc::<op> for an op of kind act or conv in precision bf16; leave.
#define DDPM_LAUNCH_act(name, ...)                                  \
  if (bf16_mode()) ops::nhwc::name(ctx_, DDPM_OP_NHWC_ARGS(__VA_ARGS__)); \
  else ops::name(ctx_, DDPM_OP_ARGS(__VA_ARGS__));
#define DDPM_LAUNCH_conv(name, ...) DDPM_LAUNCH_act(name, __VA_ARGS__)
#define DDPM_LAUNCH_plain(name, ...) ops::name(ctx_, DDPM_OP_ARGS(__VA_ARGS__));
#define DDPM_OP(kind, name, flops, ...)                                          \
  void name(DDPM_OP_PARAMS(__VA_ARGS__)) override {                              \
    enter();                                                                     \
    if (step_skip(calls::name{DDPM_OP_ARGS(__VA_ARGS__)})) return;               \
    if (region_open_) region_call(calls::name{DDPM_OP_ARGS(__VA_ARGS__)});       \
    else if (side_) side_hazards(calls::name{DDPM_OP_ARGS(__VA_ARGS__)}, #name); \
    {                                                                            \
      OnRegionStream on_side(*this);                                             \
      DDPM_LAUNCH_##kind(name, __VA_ARGS__)                                      \
    }                                                                            \
    leave(#name);                                                                \
  }
#include "ddpm/ops.def"
#undef DDPM_LAUNCH_act
#undef DDPM_LAUNCH_conv
#undef DDPM_LAUNCH_plain

  // ---- side regions (Backend::side_begin): tasks of the side stream ----------------
  // The region's first launched op forks the side stream (so a replayed step,
  // whose ops launch nothing, forks nothing); its ops run there, with
  // cublas_side_; side_end records the task with the tensors its ops read and
  // wrote, which later ops of the main stream check (side_hazards). Without a
  // side stream (fp32, tf32, DDPM_CUDA_ASYNC_WGRAD=0) the ops run in order.
  void side_begin() override {
    // DDPM_CUDA_SYNC: every op in order, each waited for; DDPM_CUDA_SIDE_REGIONS=0: regions off.
    if (!side_ || debug_sync_ || !side_regions_) return;
    if (region_open_) throw Error("cuda side_begin: inside a side region (regions do not nest)");
    region_open_ = true;
    region_forked_ = false;
    region_reads_.clear();
    region_writes_.clear();
  }
  void side_end() override {
    if (!region_open_) return;
    region_open_ = false;
    if (region_forked_) side_->done("side_end", std::move(region_reads_), std::move(region_writes_));
    region_forked_ = false;
  }

 private:
  static constexpr size_t kRingBytes = 8u << 20;       // pinned staging ring
  static constexpr size_t kRingChunk = 2u << 20;       // largest piece staged at once
  static constexpr size_t kRingAlign = 4096;           // staging granularity
  static constexpr size_t kCublasWorkspace = 32u << 20;

  struct Pending {
    size_t begin, end;
    cudaEvent_t event;
  };

  bool bf16_mode() const { return precision_ == Precision::kBf16; }

  // Inside a recorded step: the op's signature is recorded (capture) or
  // checked and its launch skipped (replay). Eager otherwise. An op with
  // per-step scalars (roles step_* of ops.def: random streams, the loss slot,
  // Adam's bias correction, the EMA decay) hands them to the step's scalar
  // slot, which its kernels then read through ctx_.step_scalars; they are
  // not part of its signature.
  template <typename Call>
  bool step_skip(const Call& call) {
    ctx_.step_scalars = nullptr;
    if constexpr (Call::per_step_args > 0) {
      StepScalars values;
      call.set_step_scalars(values);
      const auto sc = graphs_.scalars(signature(call), values, Call::name);
      ctx_.step_scalars = sc.dev;
      return sc.skip;
    } else {
      if (!graphs_.recording()) return false;
      return graphs_.skip(signature(call), Call::name);
    }
  }
  // The op's name, then every argument but the per-step scalars, in order.
  template <typename Call>
  static uint64_t signature(const Call& call) {
    Sig s(Sig::of(Call::name));
    call.for_each_arg([&](const OpArg& a, const auto& value) {
      if (!a.spec.per_step) s << value;
    });
    return s.value();
  }
  // copy and fill, which are not ops of the table, in the same way.
  template <typename... A>
  bool step_skip_memory(const char* op, const A&... args) {
    if (!graphs_.recording()) return false;
    Sig s(Sig::of(op));
    (s << ... << args);
    return graphs_.skip(s.value(), op);
  }
  // The weight gradients' stream (side_stream.h): the main stream waits for
  // every pending task (side_join), or for those an op's tensors conflict
  // with, by the op table's roles (side_hazards).
  void side_join(const char* op) {
    if (region_open_) throw Error(std::string("cuda ") + op + ": not allowed in a side region (side_region_op)");
    if (side_) side_->join_all(op);
  }
  template <typename Call>
  void side_hazards(const Call& call, const char* op) {
    if (side_->idle()) return;
    call.for_each_arg([&](const OpArg& a, const auto& value) {
      if constexpr (std::is_pointer_v<std::decay_t<decltype(value)>>) {
        if (!a.spec.tensor() || value == nullptr) return;
        const size_t elem = a.spec.activation ? activation_bytes(1) : a.spec.elem == ArgSpec::Elem::kU8 ? 1 : 4;
        side_->access(value, a.shape.elements * elem, a.spec.written(), op);
      }
    });
  }
  // An op called in a side region: forks the side stream at the region's
  // first launch and adds the op's tensors to the region's reads and writes.
  template <typename Call>
  void region_call(const Call& call) {
    if (!side_region_op(Call::name))
      throw Error(std::string("cuda ") + Call::name + ": not allowed in a side region (side_region_op)");
    if (!region_forked_) {
      side_->fork(Call::name);
      region_forked_ = true;
    }
    call.for_each_arg([&](const OpArg& a, const auto& value) {
      if constexpr (std::is_pointer_v<std::decay_t<decltype(value)>>) {
        if (!a.spec.tensor() || value == nullptr) return;
        const size_t elem = a.spec.activation ? activation_bytes(1) : a.spec.elem == ArgSpec::Elem::kU8 ? 1 : 4;
        (a.spec.written() ? region_writes_ : region_reads_).push_back({value, a.shape.elements * elem});
      }
    });
  }
  // While a region is open, the op launches on the side stream with the side
  // cuBLAS handle; the main's come back after it.
  struct OnRegionStream {
    CudaBackend& be;
    bool on;
    explicit OnRegionStream(CudaBackend& b) : be(b), on(b.region_open_) {
      if (!on) return;
      be.ctx_.stream = be.side_->stream();
      be.ctx_.cublas = be.cublas_side_;
    }
    ~OnRegionStream() {
      if (!on) return;
      be.ctx_.stream = be.stream_;
      be.ctx_.cublas = be.cublas_;
    }
  };
  // to_activation / from_activation: wait for the side tasks their tensors meet.
  void side_access(const float* src, const float* dst, int N, int C, int HW, bool dst_is_activation, const char* op) {
    if (!side_) return;
    if (region_open_) throw Error(std::string("cuda ") + op + ": not allowed in a side region (side_region_op)");
    const size_t n = static_cast<size_t>(N) * C * HW;
    side_->access(src, dst_is_activation ? n * sizeof(float) : activation_bytes(n), false, op);
    side_->access(dst, dst_is_activation ? activation_bytes(n) : n * sizeof(float), true, op);
  }
  // download_async through the staging buffer; false: not possible (no
  // memory for it), copy straight to the host instead.
  bool stage_download(void* host_dst, const void* src, size_t bytes, const char* op) {
    if (!copy_stream_) DDPM_CUDA(op, cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
    if (stage_used_ + bytes > stage_bytes_) {
      // Grow: the copies out of the old buffer finish first (they have then landed), and the
      // snapshot goes on from the start of the new one.
      DDPM_CUDA(op, cudaStreamSynchronize(copy_stream_));
      const size_t want = std::max(bytes, 2 * stage_bytes_);
      if (stage_) cudaFree(stage_);
      stage_ = nullptr;
      stage_bytes_ = 0;
      stage_used_ = 0;
      stage_fenced_ = false;  // nothing is being copied out of the new buffer
      if (cudaMalloc(&stage_, want) != cudaSuccess) {
        cudaGetLastError();
        stage_ = nullptr;
        return false;
      }
      stage_bytes_ = want;
    }
    char* dst = static_cast<char*>(stage_) + stage_used_;
    // The previous snapshot's copies out of the buffer are done before it is written again.
    if (stage_fenced_ && stage_used_ == 0) DDPM_CUDA(op, cudaStreamWaitEvent(stream_, fence_, 0));
    stage_fenced_ = false;
    DDPM_CUDA(op, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
    join_copy_stream(op);
    DDPM_CUDA(op, cudaMemcpyAsync(host_dst, dst, bytes, cudaMemcpyDeviceToHost, copy_stream_));
    stage_used_ += bytes;
    return true;
  }
  // The copy stream waits for the main stream's work enqueued so far.
  void join_copy_stream(const char* op) {
    cudaEvent_t e = take_event(op);
    DDPM_CUDA(op, cudaEventRecord(e, stream_));
    DDPM_CUDA(op, cudaStreamWaitEvent(copy_stream_, e, 0));
    event_pool_.push_back(e);  // the wait has taken its dependency: reusable
  }
  void not_in_step(const char* op) {
    if (graphs_.recording())
      throw Error(std::string("cuda ") + op + ": not allowed between step_begin and step_end");
  }
  // An activation argument in bf16 mode: the float* of the Backend interface
  // is the address of bf16 channels-last storage (see activation_format).
  static bf16* act(float* p) { return reinterpret_cast<bf16*>(p); }
  static const bf16* act(const float* p) { return reinterpret_cast<const bf16*>(p); }

  // Every entry point runs on the backend's device, whatever the calling
  // thread last selected.
  void enter() {
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != device_) DDPM_CUDA("set device", cudaSetDevice(device_));
  }
  void leave(const char* op) {
    if (debug_sync_) sync(op);
  }
  // Drains the stream, fetching the device error record in the same round
  // trip; then the staging ring is free and device-side errors surface.
  void sync(const char* op) {
    side_join(op);  // the weight gradients in flight are part of the work to drain
    DDPM_CUDA(op, cudaMemcpyAsync(err_host_, ctx_.error, sizeof(DeviceError), cudaMemcpyDeviceToHost, stream_));
    DDPM_CUDA(op, cudaStreamSynchronize(stream_));
    while (!pending_.empty()) retire_front();
    check_device_error(op);
  }
  void check_device_error(const char* op) {
    const DeviceError e = *err_host_;
    if (e.code == 0) return;
    std::memset(err_host_, 0, sizeof(DeviceError));
    DDPM_CUDA(op, cudaMemsetAsync(ctx_.error, 0, sizeof(DeviceError), stream_));
    DDPM_CUDA(op, cudaStreamSynchronize(stream_));
    std::string what;
    switch (e.code) {
      case kErrEmbeddingIndex:
        what = "embedding_gather: timestep " + std::to_string(e.value) + " of sample " + std::to_string(e.index) +
               " is outside [0, " + std::to_string(e.limit) + ")";
        break;
      case kErrNoiseAddIndex:
        what = "noise_add: timestep " + std::to_string(e.value) + " of sample " + std::to_string(e.index) +
               " is negative";
        break;
      case kErrLossWeightIndex:
        what = "mse_weighted_forward_backward: timestep " + std::to_string(e.value) + " of sample " +
               std::to_string(e.index) + " is negative";
        break;
      case kErrClassLabel:
        what = "class_embed: label " + std::to_string(e.value) + " of sample " + std::to_string(e.index) +
               " is outside [0, " + std::to_string(e.limit) + ")";
        break;
      default:
        what = "device error code " + std::to_string(e.code);
    }
    throw Error("cuda " + what + " (detected at " + op + ")");
  }
  cudaEvent_t take_event(const char* op) { return take_pooled_event(event_pool_, op); }
  void retire_front() {
    event_pool_.push_back(pending_.front().event);
    pending_.pop_front();
  }
  // Drop copies that have finished (keeps the pending list short).
  void retire_completed() {
    while (!pending_.empty()) {
      const cudaError_t e = cudaEventQuery(pending_.front().event);
      if (e == cudaSuccess) {
        retire_front();
        continue;
      }
      if (e == cudaErrorNotReady) {
        if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
        break;
      }
      throw_cuda("upload", "cudaEventQuery", e);
    }
  }

  static bool graphs_enabled() {
    const char* g = std::getenv("DDPM_CUDA_GRAPHS");
    if (g && std::strcmp(g, "0") == 0) return false;
    return !env_flag("DDPM_CUDA_SYNC");  // per-op synchronisation needs op-by-op launches
  }

  void release() {
    if (side_) cudaStreamSynchronize(side_->stream());
    if (stream_) cudaStreamSynchronize(stream_);
    if (copy_stream_) {
      cudaStreamSynchronize(copy_stream_);
      cudaStreamDestroy(copy_stream_);
      copy_stream_ = nullptr;
    }
    if (stage_) cudaFree(stage_);
    stage_ = nullptr;
    if (fence_) cudaEventDestroy(fence_);
    fence_ = nullptr;
    graphs_.clear();
    cudaGetLastError();
    for (auto& p : pending_) cudaEventDestroy(p.event);
    pending_.clear();
    for (auto e : event_pool_) cudaEventDestroy(e);
    event_pool_.clear();
    ctx_.conv = nullptr;
    conv_.reset();
    ctx_.weights = nullptr;
    weights_.reset();
    if (cublas_side_) cublasDestroy(cublas_side_);
    cublas_side_ = nullptr;
    if (cublas_side_ws_) cudaFree(cublas_side_ws_);
    cublas_side_ws_ = nullptr;
    ctx_.side = nullptr;
    side_.reset();
    alloc_bytes_.clear();
    ctx_.cublas = nullptr;
    if (cublas_) cublasDestroy(cublas_);
    cublas_ = nullptr;
    if (cublas_ws_) cudaFree(cublas_ws_);
    cublas_ws_ = nullptr;
    if (ctx_.partials) cudaFree(ctx_.partials);
    if (ctx_.coef) cudaFree(ctx_.coef);
    ctx_.partials = nullptr;
    ctx_.coef = nullptr;
    if (err_host_) cudaFreeHost(err_host_);
    err_host_ = nullptr;
    if (ctx_.error) cudaFree(ctx_.error);
    ctx_.error = nullptr;
    if (ring_) cudaFreeHost(ring_);
    ring_ = nullptr;
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
    cudaGetLastError();
  }

  int device_;
  Precision precision_;
  GrowBuffer scratch_;  // ctx_.scratch: partial sums of the bf16 reductions
  StepGraphs graphs_;   // recorded training steps (CUDA graphs)
  bool debug_sync_ = false;
  std::string device_label_;
  cudaStream_t stream_ = nullptr;
  Ctx ctx_;
  std::unique_ptr<ConvEngine> conv_;
  std::unique_ptr<WeightCache> weights_;  // ctx_.weights; bf16 only
  std::unique_ptr<SideStream> side_;      // ctx_.side; bf16 with DDPM_CUDA_ASYNC_WGRAD=1
  std::unordered_map<void*, size_t> alloc_bytes_;  // alloc()'s blocks, for weights_->forget
  cublasHandle_t cublas_ = nullptr;
  void* cublas_ws_ = nullptr;
  cublasHandle_t cublas_side_ = nullptr;  // the side regions' (side_begin)
  void* cublas_side_ws_ = nullptr;
  bool side_regions_ = false;  // side_begin opens regions (DDPM_CUDA_SIDE_REGIONS, default on with side_)
  bool region_open_ = false, region_forked_ = false;
  std::vector<SideStream::Range> region_reads_, region_writes_;
  DeviceError* err_host_ = nullptr;  // pinned copy of *ctx_.error
  char* ring_ = nullptr;
  size_t ring_head_ = 0;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> event_pool_;
  cudaEvent_t fence_ = nullptr;  // fence_record / fence_wait (snapshots)
  // Snapshots through a staging buffer (download_async): copies of at least
  // kStageMinBytes go device to device, then to the host on copy_stream_.
  static constexpr size_t kStageMinBytes = 1u << 20;
  bool snapshot_stage_ = env_flag("DDPM_CUDA_SNAPSHOT_STAGE", true);
  cudaStream_t copy_stream_ = nullptr;
  void* stage_ = nullptr;
  size_t stage_bytes_ = 0, stage_used_ = 0;
  bool stage_fenced_ = false;  // a fence follows the buffer's last copies out
};

}  // namespace

// ---- public entry points (ddpm/cuda.h) -------------------------------------------

Backend* create_cuda_backend(int device, Precision precision) { return new CudaBackend(device, precision); }

std::string step_graph_stats(const Backend& backend) {
  const auto* b = dynamic_cast<const CudaBackend*>(&backend);
  return b ? b->graph_stats() : std::string();
}

std::string conv_engine_stats(const Backend& backend) {
  const auto* b = dynamic_cast<const CudaBackend*>(&backend);
  return b ? b->conv_stats() : std::string();
}

Backend* create_cuda_backend_named(int device, const std::string& precision) {
  return create_cuda_backend(device, parse_precision(precision));
}

int device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

std::string device_name(int device) {
  cudaDeviceProp prop;
  const cudaError_t e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error("cuda device_name: device " + std::to_string(device) + ": " + cudaGetErrorString(e));
  }
  return prop.name;
}

std::string versions() {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  cudaGetLastError();
  const size_t dnn = cudnnGetVersion();  // 10000 * major + 100 * minor + patch (cuDNN 9)
  int bmaj = 0, bmin = 0, bpatch = 0;
  cublasGetProperty(MAJOR_VERSION, &bmaj);
  cublasGetProperty(MINOR_VERSION, &bmin);
  cublasGetProperty(PATCH_LEVEL, &bpatch);
  std::string s = "CUDA runtime " + version_str(runtime) + ", driver " +
                  (driver > 0 ? version_str(driver) : std::string("none"));
  s += ", cuDNN " + std::to_string(dnn / 10000) + "." + std::to_string((dnn % 10000) / 100) + "." +
       std::to_string(dnn % 100);
  s += ", cuBLAS " + std::to_string(bmaj) + "." + std::to_string(bmin) + "." + std::to_string(bpatch);
  return s;
}

}  // namespace cuda
}  // namespace ddpm
