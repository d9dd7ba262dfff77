// Convolutions through cuDNN (ConvEngine) and the backend's conv ops on top:
//   conv2d (k = 1, 3; pad k/2): forward = cudnnConvolutionForward,
//     dx = cudnnConvolutionBackwardData, dw = cudnnConvolutionBackwardFilter;
//   conv_transpose2x2 (stride 2): the transposed conv of a 2x2 stride-2 conv
//     z (N, Cout, 2H, 2W) -> (N, Cin, H, W) whose filter is w (Cin, Cout, 2, 2)
//     read as (K = Cin, C = Cout): forward = that conv's backward-data,
//     dx = its forward, dw = its backward-filter with x and dy swapped.
// Bias add and bias gradient are the kernels of channel.cu. In bf16 a
// searched shape may run a cuDNN backend graph-API engine instead of the
// legacy call (ConvEngine::search_graph below, conv_graph.h).
#include "conv.h"
#include "side_stream.h"
#include "weight_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "conv_graph.h"
#include "ops.h"

namespace ddpm {
namespace cuda {

void throw_cudnn(const char* op, const char* call, cudnnStatus_t s) {
  char detail[512];
  detail[0] = '\0';
  cudnnGetLastErrorString(detail, sizeof(detail));
  const std::string fn = std::string(call).substr(0, std::string(call).find('('));
  std::string msg = std::string("cuda ") + op + ": " + fn + " failed: " + cudnnGetErrorString(s) +
                    " (cudnnStatus " + std::to_string(static_cast<int>(s)) + ")";
  if (detail[0]) msg += ": " + std::string(detail);
  throw Error(msg);
}

std::string ConvShape::str() const {
  return "x" + shape_str({N, C, H, W}) + " w" + shape_str({K, C, R, R}) + " pad " + std::to_string(pad) +
         " stride " + std::to_string(stride);
}

struct ConvEngine::Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv[3] = {nullptr, nullptr, nullptr};
  bool ready[3] = {false, false, false};
  int algo[3] = {0, 0, 0};
  size_t ws[3] = {0, 0, 0};
  // A direction that runs a graph-API engine: its graph and the candidate chosen.
  GraphChoice graph[3];
  ~Plan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    for (auto c : conv)
      if (c) cudnnDestroyConvolutionDescriptor(c);
  }
};

namespace {

size_t env_size_mb(const char* name, size_t dflt_mb) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt_mb << 20;
  return static_cast<size_t>(std::strtoull(v, nullptr, 10)) << 20;
}

const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conversion";
    case CUDNN_FMA_MATH: return "fma";
    default: return "?";
  }
}

// The first (fastest, as cuDNN sorts them) usable result: it ran, fits the
// workspace cap, and uses no reduced precision unless TF32 is allowed (never
// the fp16 down-conversion).
template <typename Perf>
int pick(const Perf* perf, int n, bool tensor_ops, size_t cap) {
  for (int i = 0; i < n; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > cap) continue;
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    if (!tensor_ops && p.mathType == CUDNN_TENSOR_OP_MATH) continue;
    return i;
  }
  return -1;
}

}  // namespace

ConvEngine::ConvEngine(cudaStream_t stream, Precision precision)
    : stream_(stream), precision_(precision), tensor_ops_(precision != Precision::kFp32) {
  const char* algo = std::getenv("DDPM_CUDNN_ALGO");
  find_ = !(algo && std::strcmp(algo, "heuristic") == 0);
  const char* verbose = std::getenv("DDPM_CUDA_VERBOSE");
  verbose_ = verbose && *verbose && std::strcmp(verbose, "0") != 0;
  ws_cap_ = env_size_mb("DDPM_CUDNN_WORKSPACE_MB", 1024);
  // auto|off|force switches: 0 off, 1 auto, 2 force (unset: fallback).
  const auto mode = [](const char* name, int fallback) {
    const char* e = std::getenv(name);
    if (!e || !*e) return fallback;
    const std::string v = e;
    if (v == "auto" || v == "1" || v == "on") return 1;
    if (v == "off" || v == "0") return 0;
    if (v == "force") return 2;
    throw Error(std::string(name) + " is '" + v + "'; expected auto, off or force");
  };
  graph_mode_ = static_cast<GraphMode>(mode("DDPM_CUDNN_GRAPH", kGraphAuto));
  own_mode_ = static_cast<OwnMode>(mode("DDPM_CUDA_SMALL_CIN", kOwnAuto));
  // 1|0 switches (unset: fallback).
  const auto on_off = [](const char* name, bool fallback) {
    const char* e = std::getenv(name);
    if (!e || !*e) return fallback;
    const std::string v = e;
    if (v == "1" || v == "on") return true;
    if (v == "0" || v == "off") return false;
    throw Error(std::string(name) + " is '" + v + "'; expected 1 or 0");
  };
  pad_cin_ = on_off("DDPM_CUDA_PAD_CIN", pad_cin_);
  fused_ = on_off("DDPM_CUDNN_FUSED", fused_);
  if (const char* l = std::getenv("DDPM_CUDNN_GRAPH_LIMIT"); l && *l) {
    graph_limit_ = std::atoi(l);
    if (graph_limit_ < 1) throw Error("DDPM_CUDNN_GRAPH_LIMIT is '" + std::string(l) + "'; expected a positive count");
  }
  DDPM_CUDNN("create_cuda_backend", cudnnCreate(&handle_));
  cudnnStatus_t s = cudnnSetStream(handle_, stream_);
  if (s != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(handle_);
    throw_cudnn("create_cuda_backend", "cudnnSetStream", s);
  }
}

ConvEngine::~ConvEngine() {
  plans_.clear();
  if (handle_) cudnnDestroy(handle_);
}

ConvEngine::Plan& ConvEngine::plan(const char* op, const ConvShape& s) {
  auto it = plans_.find(s);
  if (it != plans_.end()) return *it->second;
  auto p = std::make_unique<Plan>();
  DDPM_CUDNN(op, cudnnCreateTensorDescriptor(&p->x));
  DDPM_CUDNN(op, cudnnCreateTensorDescriptor(&p->y));
  DDPM_CUDNN(op, cudnnCreateFilterDescriptor(&p->w));
  const bool bf = precision_ == Precision::kBf16;
  const cudnnDataType_t dtype = bf ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t layout = bf ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const cudnnMathType_t math = precision_ == Precision::kFp32 ? CUDNN_FMA_MATH
                               : bf                           ? CUDNN_TENSOR_OP_MATH
                                                              : CUDNN_DEFAULT_MATH;
  DDPM_CUDNN(op, cudnnSetTensor4dDescriptor(p->x, layout, dtype, s.N, s.C, s.H, s.W));
  DDPM_CUDNN(op, cudnnSetFilter4dDescriptor(p->w, dtype, layout, s.K, s.C, s.R, s.R));
  for (auto& c : p->conv) {
    DDPM_CUDNN(op, cudnnCreateConvolutionDescriptor(&c));
    // Accumulation is float32 in every precision.
    DDPM_CUDNN(op, cudnnSetConvolution2dDescriptor(c, s.pad, s.pad, s.stride, s.stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DDPM_CUDNN(op, cudnnSetConvolutionMathType(c, math));
  }
  int n = 0, k = 0, P = 0, Q = 0;
  DDPM_CUDNN(op, cudnnGetConvolution2dForwardOutputDim(p->conv[0], p->x, p->w, &n, &k, &P, &Q));
  const int P_expect = (s.H + 2 * s.pad - s.R) / s.stride + 1, Q_expect = (s.W + 2 * s.pad - s.R) / s.stride + 1;
  if (n != s.N || k != s.K || P != P_expect || Q != Q_expect)
    throw Error(std::string("cuda ") + op + ": cuDNN output shape " + shape_str({n, k, P, Q}) +
                " differs from the expected " + shape_str({s.N, s.K, P_expect, Q_expect}));
  DDPM_CUDNN(op, cudnnSetTensor4dDescriptor(p->y, layout, dtype, n, k, P, Q));
  Plan& ref = *p;
  plans_.emplace(s, std::move(p));
  return ref;
}

void ConvEngine::reserve(const char* op, size_t bytes) {
  ws_.get(bytes, stream_, op);
  if (side_stream_) ws_side_.get(bytes, side_stream_, op);  // drains the side stream before it moves
}

void ConvEngine::use_side(bool on) {
  const cudnnStatus_t st = cudnnSetStream(handle_, on ? side_stream_ : stream_);
  if (st != CUDNN_STATUS_SUCCESS) throw_cudnn("conv2d_backward", "cudnnSetStream", st);
  ws_active_ = on ? &ws_side_ : &ws_;
}

bool ConvEngine::ready(const ConvShape& s, int direction) const {
  const auto it = plans_.find(s);
  return it != plans_.end() && it->second->ready[direction];
}

void ConvEngine::prepare(const char* op, const ConvShape& s, Plan& p, Dir d) {
  cudnnConvolutionDescriptor_t conv = p.conv[d];
  int algo = 0;
  size_t ws = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
  float ms = -1.0f;
  bool found = false;
  // Find (benchmark) only for a batch larger than any searched for this
  // geometry and direction; the heuristics otherwise, or when the search
  // offers nothing pick() accepts.
  int& searched = searched_n_[{s.geometry(), static_cast<int>(d)}];
  const bool search = find_ && s.N > searched;
  if (search) searched = s.N;
  const char* how = search ? "find" : find_ ? "heuristic, smaller batch than the one searched" : "heuristic";
  for (int attempt = search ? 0 : 1; attempt < 2 && !found; ++attempt) {
    if (attempt == 1 && search) how = "heuristic, the search offered none";
    if (d == kFwd) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      if (attempt == 0)
        DDPM_CUDNN(op, cudnnFindConvolutionForwardAlgorithm(handle_, p.x, p.w, conv, p.y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      else
        DDPM_CUDNN(op, cudnnGetConvolutionForwardAlgorithm_v7(handle_, p.x, p.w, conv, p.y,
                                                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      const int i = pick(perf, n, tensor_ops_, ws_cap_);
      if (i >= 0) {
        found = true;
        algo = perf[i].algo;
        ws = perf[i].memory;
        math = perf[i].mathType;
        ms = perf[i].time;
      }
    } else if (d == kBwdData) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      if (attempt == 0)
        DDPM_CUDNN(op, cudnnFindConvolutionBackwardDataAlgorithm(handle_, p.w, p.y, conv, p.x,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      else
        DDPM_CUDNN(op, cudnnGetConvolutionBackwardDataAlgorithm_v7(handle_, p.w, p.y, conv, p.x,
                                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      const int i = pick(perf, n, tensor_ops_, ws_cap_);
      if (i >= 0) {
        found = true;
        algo = perf[i].algo;
        ws = perf[i].memory;
        math = perf[i].mathType;
        ms = perf[i].time;
      }
    } else {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int n = 0;
      if (attempt == 0)
        DDPM_CUDNN(op, cudnnFindConvolutionBackwardFilterAlgorithm(handle_, p.x, p.y, conv, p.w,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
      else
        DDPM_CUDNN(op, cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle_, p.x, p.y, conv, p.w,
                                                                     CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
      const int i = pick(perf, n, tensor_ops_, ws_cap_);
      if (i >= 0) {
        found = true;
        algo = perf[i].algo;
        ws = perf[i].memory;
        math = perf[i].mathType;
        ms = perf[i].time;
      }
    }
  }
  static const char* dir_name[3] = {"forward", "backward-data", "backward-filter"};
  if (!found)
    throw Error(std::string("cuda ") + op + ": cuDNN offers no usable " + dir_name[d] + " algorithm for " +
                s.str() + (precision_ == Precision::kFp32 ? " in strict fp32 (CUDNN_FMA_MATH)" :
                           precision_ == Precision::kBf16 ? " in bf16 NHWC" : "") + " within a workspace of " +
                std::to_string(ws_cap_ >> 20) + " MiB (DDPM_CUDNN_WORKSPACE_MB)");
  // Strict fp32 keeps FMA math whatever the result reports; TF32 keeps the
  // math type the algorithm was measured with.
  if (precision_ == Precision::kFp32) math = CUDNN_FMA_MATH;
  DDPM_CUDNN(op, cudnnSetConvolutionMathType(conv, math));
  size_t need = 0;
  if (d == kFwd)
    DDPM_CUDNN(op, cudnnGetConvolutionForwardWorkspaceSize(handle_, p.x, p.w, conv, p.y,
                                                           static_cast<cudnnConvolutionFwdAlgo_t>(algo), &need));
  else if (d == kBwdData)
    DDPM_CUDNN(op, cudnnGetConvolutionBackwardDataWorkspaceSize(
                       handle_, p.w, p.y, conv, p.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), &need));
  else
    DDPM_CUDNN(op, cudnnGetConvolutionBackwardFilterWorkspaceSize(
                       handle_, p.x, p.y, conv, p.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), &need));
  if (need > ws) ws = need;
  reserve(op, ws);
  p.algo[d] = algo;
  p.ws[d] = ws;
  p.ready[d] = true;
  if (verbose_)
    std::fprintf(stderr, "[ddpm cuda] %s %s %s: algo %d (%s), math %s, workspace %zu KiB, %.3f ms\n", op,
                 dir_name[d], s.str().c_str(), algo, how, math_name(math), ws >> 10, ms);
  if (precision_ == Precision::kBf16 && search && graph_mode_ != kGraphOff) search_graph(op, s, p, d, ms);
}

void ConvEngine::run_legacy(const char* op, Plan& p, Dir d, void* x_like, void* w_like, void* y_like) {
  const float one = 1.0f, zero = 0.0f;
  if (d == kFwd)
    DDPM_CUDNN(op, cudnnConvolutionForward(handle_, &one, p.x, x_like, p.w, w_like, p.conv[kFwd],
                                           static_cast<cudnnConvolutionFwdAlgo_t>(p.algo[kFwd]), ws_active_->data(),
                                           p.ws[kFwd], &zero, p.y, y_like));
  else if (d == kBwdData)
    DDPM_CUDNN(op, cudnnConvolutionBackwardData(handle_, &one, p.w, w_like, p.y, y_like, p.conv[kBwdData],
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo[kBwdData]),
                                                ws_active_->data(), p.ws[kBwdData], &zero, p.x, x_like));
  else
    DDPM_CUDNN(op, cudnnConvolutionBackwardFilter(handle_, &one, p.x, x_like, p.y, y_like, p.conv[kBwdFilter],
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo[kBwdFilter]),
                                                  ws_active_->data(), p.ws[kBwdFilter], &zero, p.w, w_like));
}

// The x-, w- and y-shaped tensors of every direction (see conv_graph.h): the
// public entries pass their arguments on in that order. A graph-API plan is
// built for 16-byte aligned tensors; any other pointer takes the legacy
// algorithm (chosen for the same shape).
namespace {
bool graph_aligned(const void* a, const void* b, const void* c) {
  return ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) | reinterpret_cast<uintptr_t>(c)) & 15) == 0;
}
}  // namespace

void ConvEngine::forward(const char* op, const ConvShape& s, const void* x, const void* w, void* y) {
  Plan& p = plan(op, s);
  if (!p.ready[kFwd]) prepare(op, s, p, kFwd);
  if (p.graph[kFwd].pick >= 0 && graph_aligned(x, w, y))
    p.graph[kFwd].graph->run(op, p.graph[kFwd].pick, ConvPointers{const_cast<void*>(x), const_cast<void*>(w), y},
                             ws_active_->data());
  else
    run_legacy(op, p, kFwd, const_cast<void*>(x), const_cast<void*>(w), y);
}

void ConvEngine::backward_data(const char* op, const ConvShape& s, const void* w, const void* dy, void* dx) {
  Plan& p = plan(op, s);
  if (!p.ready[kBwdData]) prepare(op, s, p, kBwdData);
  if (p.graph[kBwdData].pick >= 0 && graph_aligned(dx, w, dy))
    p.graph[kBwdData].graph->run(op, p.graph[kBwdData].pick, ConvPointers{dx, const_cast<void*>(w), const_cast<void*>(dy)},
                           ws_active_->data());
  else
    run_legacy(op, p, kBwdData, dx, const_cast<void*>(w), const_cast<void*>(dy));
}

void ConvEngine::backward_filter(const char* op, const ConvShape& s, const void* x, const void* dy, void* dw) {
  Plan& p = plan(op, s);
  if (!p.ready[kBwdFilter]) prepare(op, s, p, kBwdFilter);
  if (p.graph[kBwdFilter].pick >= 0 && graph_aligned(x, dw, dy))
    p.graph[kBwdFilter].graph->run(op, p.graph[kBwdFilter].pick, ConvPointers{const_cast<void*>(x), dw, const_cast<void*>(dy)},
                             ws_active_->data());
  else
    run_legacy(op, p, kBwdFilter, const_cast<void*>(x), dw, const_cast<void*>(dy));
}

// ---- the graph-API search ---------------------------------------------------------

namespace {

// Deterministic bf16 values in [-1, 1) from a hash of the index: the search's
// inputs (random-like, so that a layout mistake cannot cancel out).
__global__ void fill_pattern_kernel(bf16* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 15;
    h *= 0x85EBCA77u;
    h ^= h >> 13;
    h *= 0xC2B2AE3Du;
    h ^= h >> 16;
    p[i] = __float2bfloat16(static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
}

// out[0] = max |a - ref| (a NaN counts as huge), out[1] = max |ref|, as the
// bits of non-negative floats (which order as unsigned integers).
__global__ void max_diff_kernel(const bf16* a, const bf16* ref, size_t n, unsigned* out) {
  float md = 0.0f, mr = 0.0f;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float r = __bfloat162float(ref[i]);
    float d = fabsf(__bfloat162float(a[i]) - r);
    if (!(d <= 3.0e38f)) d = 3.0e38f;
    md = fmaxf(md, d);
    mr = fmaxf(mr, fabsf(r));
  }
  for (int o = 16; o > 0; o >>= 1) {
    md = fmaxf(md, __shfl_xor_sync(0xffffffffu, md, o));
    mr = fmaxf(mr, __shfl_xor_sync(0xffffffffu, mr, o));
  }
  if ((threadIdx.x & 31) == 0) {
    atomicMax(out, __float_as_uint(md));
    atomicMax(out + 1, __float_as_uint(mr));
  }
}

// No room for the search's buffers: the search is skipped (the legacy
// algorithm stays), not the convolution failed.
struct SearchOutOfMemory {};

// The search's own device buffers, freed however it ends.
struct SearchBuffers {
  std::vector<void*> ptrs;
  ~SearchBuffers() {
    cudaDeviceSynchronize();
    for (void* p : ptrs) cudaFree(p);
  }
  void* get(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(bytes, 256)) != cudaSuccess) {
      cudaGetLastError();  // not sticky: clear it, so that no later check sees it
      throw SearchOutOfMemory{};
    }
    ptrs.push_back(p);
    return p;
  }
};

}  // namespace

ConvEngine::Race ConvEngine::race(const char* op, const ConvShape& s, Dir d, GraphConv& g, size_t ws_floor,
                                  const std::function<void(bf16* x, bf16* w, bf16* y)>& reference,
                                  const ConvPointers& epilogue_tensors) {
  Race r;
  const int P = (s.H + 2 * s.pad - s.R) / s.stride + 1, Q = (s.W + 2 * s.pad - s.R) / s.stride + 1;
  const size_t n_x = static_cast<size_t>(s.N) * s.C * s.H * s.W, n_w = static_cast<size_t>(s.K) * s.C * s.R * s.R,
               n_y = static_cast<size_t>(s.N) * s.K * P * Q;
  const size_t n_out = d == kFwd ? n_y : d == kBwdData ? n_x : n_w;
  SearchBuffers buf;
  bf16 *x, *w, *y, *ref;
  unsigned* diff;
  try {
    x = static_cast<bf16*>(buf.get(n_x * sizeof(bf16)));
    w = static_cast<bf16*>(buf.get(n_w * sizeof(bf16)));
    y = static_cast<bf16*>(buf.get(n_y * sizeof(bf16)));
    ref = static_cast<bf16*>(buf.get(n_out * sizeof(bf16)));
    diff = static_cast<unsigned*>(buf.get(2 * sizeof(unsigned)));
  } catch (const SearchOutOfMemory&) {
    return r;  // ran stays false
  }
  r.ran = true;
  bf16* out = d == kFwd ? y : d == kBwdData ? x : w;
  fill_pattern_kernel<<<1024, 256, 0, stream_>>>(x, n_x, 0x1234567u);
  fill_pattern_kernel<<<1024, 256, 0, stream_>>>(w, n_w, 0x89abcdeu);
  fill_pattern_kernel<<<1024, 256, 0, stream_>>>(y, n_y, 0x2468aceu);
  DDPM_CUDA(op, cudaGetLastError());
  size_t need = ws_floor;
  for (int i = 0; i < g.candidates(); ++i)
    if (g.workspace(i) <= ws_cap_) need = std::max(need, g.workspace(i));
  reserve(op, need);

  auto ref_run = [&] { reference(x, w, y); };
  ref_run();
  DDPM_CUDA(op, cudaMemcpyAsync(ref, out, n_out * sizeof(bf16), cudaMemcpyDeviceToDevice, stream_));
  r.t_ref = time_ms(op, ref_run);
  ConvPointers t = epilogue_tensors;
  t.x = x;
  t.w = w;
  t.y = y;
  for (int i = 0; i < g.candidates(); ++i) {
    if (g.workspace(i) > ws_cap_) continue;
    const cudnnStatus_t st = g.execute(i, t, ws_.data());
    if (st != CUDNN_STATUS_SUCCESS) {
      r.rejected += " " + g.describe(i) + ": " + cudnnGetErrorString(st) + ";";
      continue;
    }
    DDPM_CUDA(op, cudaMemsetAsync(diff, 0, 2 * sizeof(unsigned), stream_));
    max_diff_kernel<<<256, 256, 0, stream_>>>(out, ref, n_out, diff);
    DDPM_CUDA(op, cudaGetLastError());
    unsigned bits[2];
    DDPM_CUDA(op, cudaMemcpyAsync(bits, diff, sizeof(bits), cudaMemcpyDeviceToHost, stream_));
    DDPM_CUDA(op, cudaStreamSynchronize(stream_));
    float md, mr;
    std::memcpy(&md, &bits[0], sizeof(float));
    std::memcpy(&mr, &bits[1], sizeof(float));
    // bf16 outputs: the same sums rounded once differ by a few units in the
    // last place; a layout or algorithm mistake by the size of the values.
    // 5% of the largest value: the legacy reference itself may be the less
    // exact one (on an H200 the first layer's legacy weight-gradient
    // algorithm 0 was 4 bf16 units, 1.9% of the largest value, off the
    // graph engines, which agreed with each other).
    if (!(md <= 5e-2f * mr)) {
      char why[160];
      std::snprintf(why, sizeof(why), " %s: result differs from the reference's (max |diff| %.3g, max |ref| %.3g);",
                    g.describe(i).c_str(), md, mr);
      r.rejected += why;
      continue;
    }
    const float ti = time_ms(op, [&] { g.execute(i, t, ws_.data()); });
    if (ti < r.t_best) {
      r.t_best = ti;
      r.best = i;
    }
  }
  return r;
}

float ConvEngine::time_ms(const char* op, const std::function<void()>& fn) {
  cudaEvent_t ev[2] = {nullptr, nullptr};
  DDPM_CUDA(op, cudaEventCreate(&ev[0]));
  const cudaError_t e = cudaEventCreate(&ev[1]);
  if (e != cudaSuccess) {
    cudaEventDestroy(ev[0]);
    throw_cuda(op, "cudaEventCreate", e);
  }
  float best = 1e30f;
  try {
    fn();
    for (int round = 0; round < 2; ++round) {
      DDPM_CUDA(op, cudaEventRecord(ev[0], stream_));
      for (int k = 0; k < 5; ++k) fn();
      DDPM_CUDA(op, cudaEventRecord(ev[1], stream_));
      DDPM_CUDA(op, cudaEventSynchronize(ev[1]));
      float ms = 0.0f;
      DDPM_CUDA(op, cudaEventElapsedTime(&ms, ev[0], ev[1]));
      best = std::min(best, ms / 5.0f);
    }
  } catch (...) {
    cudaEventDestroy(ev[0]);
    cudaEventDestroy(ev[1]);
    throw;
  }
  cudaEventDestroy(ev[0]);
  cudaEventDestroy(ev[1]);
  return best;
}

bool ConvEngine::prefer_own(const char* op, const ConvShape& s, int direction, const char* own_name,
                            const std::function<void()>& own, const std::function<void()>& library) {
  if (own_mode_ == kOwnOff) return false;
  if (own_mode_ == kOwnForce) return true;
  // Heuristic mode (DDPM_CUDNN_ALGO=heuristic) times nothing, so that two
  // backends run the same kernels (the step-graph checks compare their bits).
  if (!find_) return false;
  const auto key = std::make_pair(s, direction);
  const auto it = own_choice_.find(key);
  if (it != own_choice_.end()) return it->second;
  if (capturing(stream_, op)) return false;  // undecided while recording: cuDNN, not remembered
  const float t_library = time_ms(op, library), t_own = time_ms(op, own);
  const bool pick = t_own < t_library;
  own_choice_[key] = pick;
  if (verbose_) {
    static const char* dir_name[3] = {"forward", "backward-data", "backward-filter"};
    std::fprintf(stderr, "[ddpm cuda] %s %s %s: %s %.3f ms, cuDNN %.3f ms -> %s\n", op, dir_name[direction],
                 s.str().c_str(), own_name, t_own, t_library, pick ? own_name : "cuDNN");
  }
  return pick;
}

ConvEngine::GraphChoice ConvEngine::choose_graph(const char* op, const ConvShape& s, Dir d,
                                                 const ConvEpilogue& epilogue, const std::string& what,
                                                 size_t ws_floor, const std::string& reference_name,
                                                 const std::function<void(bf16* x, bf16* w, bf16* y)>& reference,
                                                 const ConvPointers& epilogue_tensors) {
  GraphChoice choice;
  const std::string shape_text = s.str();
  const char* shape = shape_text.c_str();
  std::unique_ptr<GraphConv> g;
  try {
    g = std::make_unique<GraphConv>(handle_, s, static_cast<int>(d), epilogue);
    g->plan_candidates(graph_limit_);
  } catch (const Error& e) {
    if (verbose_) std::fprintf(stderr, "[ddpm cuda] %s %s %s: no graph (%s)\n", op, what.c_str(), shape, e.what());
    return choice;
  }
  if (g->candidates() == 0) {
    if (verbose_)
      std::fprintf(stderr, "[ddpm cuda] %s %s %s: no graph plans (%s)\n", op, what.c_str(), shape, g->notes().c_str());
    return choice;
  }
  const Race r = race(op, s, d, *g, ws_floor, reference, epilogue_tensors);
  if (!r.ran) {
    if (verbose_)
      std::fprintf(stderr, "[ddpm cuda] %s %s %s: %s kept (no device memory for the graph search)\n", op, what.c_str(),
                   shape, reference_name.c_str());
    return choice;
  }
  const bool take = r.best >= 0 && (graph_mode_ == kGraphForce || r.t_best < 0.97f * r.t_ref);
  if (verbose_)
    std::fprintf(stderr, "[ddpm cuda] %s %s %s: %s; %s %.3f ms%s%s%s (%d candidates)%s%s%s%s\n", op, what.c_str(), shape,
                 take ? "graph API" : "kept", reference_name.c_str(), r.t_ref, r.best >= 0 ? ", fastest graph " : "",
                 r.best >= 0 ? g->describe(r.best).c_str() : "",
                 r.best >= 0 ? (" " + std::to_string(r.t_best) + " ms").c_str() : "", g->candidates(),
                 r.rejected.empty() ? "" : "; rejected:", r.rejected.c_str(), g->notes().empty() ? "" : "; notes: ",
                 g->notes().c_str());
  if (take) {
    choice.pick = r.best;
    choice.graph = std::move(g);
  }
  return choice;
}

void ConvEngine::search_graph(const char* op, const ConvShape& s, Plan& p, Dir d, float legacy_ms) {
  static const char* dir_name[3] = {"forward", "backward-data", "backward-filter"};
  ++searches_;
  char legacy[96];
  std::snprintf(legacy, sizeof(legacy), "legacy algo %d (cudnnFind said %.3f ms)", p.algo[d], legacy_ms);
  GraphChoice c = choose_graph(op, s, d, ConvEpilogue{}, dir_name[d], p.ws[d], legacy,
                               [&](bf16* x, bf16* w, bf16* y) { run_legacy(op, p, d, x, w, y); }, ConvPointers{});
  if (c.pick < 0) return;
  p.ws[d] = std::max(p.ws[d], c.graph->workspace(c.pick));
  p.graph[d] = std::move(c);
  ++graph_choices_;
}

bool ConvEngine::forward_fused(const char* op, const ConvShape& s, const void* x, const void* w, void* y,
                               const ConvEpilogue& epilogue, const ConvPointers& epilogue_tensors,
                               const std::function<void(bf16* x, bf16* w, bf16* y)>& unfused) {
  if (!fused_ || precision_ != Precision::kBf16 || !find_ || epilogue.empty()) return false;
  const auto key = std::make_pair(s, epilogue.key());
  auto it = fused_plans_.find(key);
  if (it == fused_plans_.end()) {
    int& searched = fused_searched_n_[{s.geometry(), epilogue.key()}];
    if (s.N <= searched) return false;  // a smaller batch of a searched geometry: unfused
    searched = s.N;
    // The plain forward first: the unfused reference runs it, and its
    // search sizes the workspace.
    Plan& p = plan(op, s);
    if (!p.ready[kFwd]) prepare(op, s, p, kFwd);
    it = fused_plans_
             .emplace(key, choose_graph(op, s, kFwd, epilogue, "forward + epilogue " + std::to_string(epilogue.key()),
                                        p.ws[kFwd], "unfused", unfused, epilogue_tensors))
             .first;
  }
  GraphChoice& f = it->second;
  if (f.pick < 0 || !graph_aligned(x, w, y)) return false;
  ConvPointers t = epilogue_tensors;
  t.x = const_cast<void*>(x);
  t.w = const_cast<void*>(w);
  t.y = y;
  f.graph->run(op, f.pick, t, ws_active_->data());
  return true;
}


bf16* ConvEngine::weight_scratch(const char* op, size_t elems, int slot) {
  return static_cast<bf16*>(wscratch_[slot].get(elems * sizeof(bf16), stream_, op));
}

bf16* ConvEngine::pad_scratch(const char* op, size_t elems, int slot) {
  return static_cast<bf16*>(pscratch_[slot].get(elems * sizeof(bf16), stream_, op));
}

// ---- the backend's conv ops ------------------------------------------------------

namespace ops {

namespace {
void need_positive(const char* op, std::initializer_list<long long> dims) {
  for (long long d : dims)
    if (d <= 0) throw Error(std::string("cuda ") + op + ": every dimension must be positive, got " + shape_str(dims));
}
}  // namespace

void conv2d_forward(const Ctx& ctx, const float* x, const float* w, const float* b,
                    float* y, int N, int Cin, int H, int W, int Cout, int k) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv2d_forward";
  if (k != 1 && k != 3) throw Error("cuda conv2d_forward: kernel size must be 1 or 3, got " + std::to_string(k));
  need_positive(op, {N, Cin, H, W, Cout});
  const ConvShape s{N, Cin, H, W, Cout, k, k / 2, 1};
  eng.forward(op, s, x, w, y);
  add_bias(ctx, y, b, N, Cout, static_cast<long long>(H) * W, op);
}

void conv2d_backward(const Ctx& ctx, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv2d_backward";
  if (k != 1 && k != 3) throw Error("cuda conv2d_backward: kernel size must be 1 or 3, got " + std::to_string(k));
  need_positive(op, {N, Cin, H, W, Cout});
  const ConvShape s{N, Cin, H, W, Cout, k, k / 2, 1};
  if (db) channel_sum(ctx, dy, db, N, Cout, static_cast<long long>(H) * W, op);
  eng.backward_filter(op, s, x, dy, dw);
  if (dx) eng.backward_data(op, s, w, dy, dx);
}

void conv_transpose2x2_forward(const Ctx& ctx, const float* x, const float* w,
                               const float* b, float* y, int N, int Cin, int H, int W, int Cout) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv_transpose2x2_forward";
  need_positive(op, {N, Cin, H, W, Cout});
  // The 2x2 stride-2 conv (N, Cout, 2H, 2W) -> (N, Cin, H, W) with filter (Cin, Cout, 2, 2).
  const ConvShape s{N, Cout, 2 * H, 2 * W, Cin, 2, 0, 2};
  eng.backward_data(op, s, w, x, y);
  add_bias(ctx, y, b, N, Cout, 4LL * H * W, op);
}

void conv_transpose2x2_backward(const Ctx& ctx, const float* x, const float* w,
                                const float* dy, float* dx, float* dw, float* db, int N, int Cin,
                                int H, int W, int Cout) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv_transpose2x2_backward";
  need_positive(op, {N, Cin, H, W, Cout});
  const ConvShape s{N, Cout, 2 * H, 2 * W, Cin, 2, 0, 2};
  if (db) channel_sum(ctx, dy, db, N, Cout, 4LL * H * W, op);
  eng.backward_filter(op, s, dy, x, dw);
  if (dx) eng.forward(op, s, dy, w, dx);
}

// ---- the same ops in precision bf16 (activations bf16 NHWC) -------------------------
// cuDNN's NHWC filters are (K, R, S, C): the float32 (K, C, R, S) weights are
// converted to bf16 once per recorded step, all in one launch, into copies
// that the step's forward and data gradients share (weight_cache.h), or,
// outside a step, into the engine's weight scratch on every call. A weight
// gradient comes back from cuDNN in bf16 (K, R, S, C), accumulated in
// float32 and rounded once, and is converted to float32 (K, C, R, S).
namespace nhwc {

namespace {
void check_precision(const ConvEngine& eng, const char* op) {
  if (eng.precision() != Precision::kBf16)
    throw Error(std::string("cuda ") + op + ": bf16 convolution on an engine that is not in precision bf16");
}

// The weight gradient dw (float32 (K, C, RS)) of shape s from
// backward_filter(a, b) (a_elems and b_elems bf16 values): on the side
// stream (side_stream.h) when side_ok, the backend has one and the shape's
// filter gradient is set up, else in line.
void weight_gradient(const Ctx& ctx, const char* op, const ConvShape& s, const bf16* a, size_t a_elems, const bf16* b,
                     size_t b_elems, float* dw, int K, int C, int RS, bool side_ok = true) {
  ConvEngine& eng = *ctx.conv;
  const size_t welems = static_cast<size_t>(K) * C * RS;
  const auto side_sized = [&] { return eng.weight_scratch_bytes(2) >= welems * sizeof(bf16); };
  if (ctx.side && !side_sized() && !capturing(ctx.stream, op)) {
    // The side stream's scratch grows outside captures (it drains that
    // stream first: its tasks may be using the old one), so that a captured
    // step finds it sized.
    ctx.side->join_all(op);
    DDPM_CUDA(op, cudaStreamSynchronize(ctx.side->stream()));
    eng.weight_scratch(op, welems, 2);
  }
  if (!side_ok || !ctx.side || !eng.ready(s, ConvEngine::kBackwardFilter) || !side_sized()) {
    bf16* dwb = eng.weight_scratch(op, welems, 1);
    eng.backward_filter(op, s, a, b, dwb);
    weights_from_krsc(ctx, dwb, dw, K, C, RS, op);
    return;
  }
  bf16* dwb = eng.weight_scratch(op, welems, 2);
  ctx.side->fork(op);
  Ctx side = ctx;
  side.stream = ctx.side->stream();
  eng.use_side(true);
  try {
    eng.backward_filter(op, s, a, b, dwb);
  } catch (...) {
    eng.use_side(false);
    throw;
  }
  eng.use_side(false);
  weights_from_krsc(side, dwb, dw, K, C, RS, op);
  ctx.side->done(op, {{a, a_elems * sizeof(bf16)}, {b, b_elems * sizeof(bf16)}}, {{dw, welems * sizeof(float)}});
}

// The first layer (C = 1..4 channels) on cuDNN with x, dx and the filter
// padded with zero channels to Cp = 8: cuDNN's tensor-core kernels need C a
// multiple of 8, and for C = 3 it ran a generic kernel (0.16 ms of an H200
// bf16 step at batch 512 for the forward alone). The padded channels add
// zeros to every sum, so the results are the narrow convolution's. The
// weight gradient runs in line (its padded x is engine scratch, which the
// side stream's hazard checks do not see). Compile-checked only so far.
struct PaddedConv {
  const Ctx& ctx;
  const char* op;
  const ConvShape& s;  // the narrow shape
  static constexpr int kCp = 8;
  ConvShape padded() const {
    ConvShape p = s;
    p.C = kCp;
    return p;
  }
  long long pixels() const { return static_cast<long long>(s.N) * s.H * s.W; }
  const bf16* weights(const float* w) const {
    bf16* wb = ctx.conv->weight_scratch(op, static_cast<size_t>(s.K) * s.R * s.R * kCp, 0);
    weights_to_krsc(ctx, w, wb, s.K, s.C, s.R * s.R, op, kCp);
    return wb;
  }
  const bf16* padded_x(const bf16* x) const {
    bf16* xp = ctx.conv->pad_scratch(op, static_cast<size_t>(pixels()) * kCp, 0);
    copy_channels(ctx, x, xp, pixels(), s.C, kCp, op);
    return xp;
  }
  void forward(const bf16* x, const float* w, bf16* y) const {
    const bf16* xp = padded_x(x);
    ctx.conv->forward(op, padded(), xp, weights(w), y);
  }
  void backward_data(const float* w, const bf16* dy, bf16* dx) const {
    const bf16* wb = weights(w);
    bf16* dxp = ctx.conv->pad_scratch(op, static_cast<size_t>(pixels()) * kCp, 1);
    ctx.conv->backward_data(op, padded(), wb, dy, dxp);
    copy_channels(ctx, dxp, dx, pixels(), kCp, s.C, op);
  }
  void backward_filter(const bf16* x, const bf16* dy, float* dw) const {
    const bf16* xp = padded_x(x);
    bf16* dwb = ctx.conv->weight_scratch(op, static_cast<size_t>(s.K) * s.R * s.R * kCp, 1);
    ctx.conv->backward_filter(op, padded(), xp, dy, dwb);
    weights_from_krsc(ctx, dwb, dw, s.K, s.C, s.R * s.R, op, kCp);
  }
};

// The bf16 (K, RS, C) filter of w (K, C, RS): the step's copy, or a
// conversion into weight scratch slot 0.
const bf16* krsc_weights(const Ctx& ctx, const float* w, int K, int C, int RS, const char* op) {
  if (ctx.weights)
    if (const bf16* copy = ctx.weights->get(ctx, w, K, C, RS, op)) return copy;
  bf16* wb = ctx.conv->weight_scratch(op, static_cast<size_t>(K) * C * RS, 0);
  weights_to_krsc(ctx, w, wb, K, C, RS, op);
  return wb;
}
}  // namespace

void conv2d_forward_epilogue(const Ctx& ctx, const bf16* x, const float* w, bf16* y, int N, int Cin, int H, int W,
                             int Cout, int k, const ConvEpilogue& epilogue, const ConvPointers& epilogue_tensors,
                             const std::function<void(bf16* y)>& post) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv2d_forward";
  check_precision(eng, op);
  if (k != 1 && k != 3) throw Error("cuda conv2d_forward: kernel size must be 1 or 3, got " + std::to_string(k));
  need_positive(op, {N, Cin, H, W, Cout});
  if (k == 1 && conv1x1_narrow_applies(Cin, Cout, {x, y})) {
    conv1x1_narrow_forward(ctx, x, w, nullptr, y, N, Cin, H * W, Cout);
    post(y);
    return;
  }
  const ConvShape s{N, Cin, H, W, Cout, k, k / 2, 1};
  if (conv_small_cin_applies(Cin, Cout, k, {x, y})) {
    // The first layer: its own kernels or cuDNN (on padded channels unless DDPM_CUDA_PAD_CIN=0).
    const PaddedConv padded{ctx, op, s};
    const auto own = [&] { conv_small_cin_forward(ctx, x, w, y, N, Cin, H, W, Cout); };
    const auto library = [&] {
      if (eng.pad_small_cin()) padded.forward(x, w, y);
      else eng.forward(op, s, x, krsc_weights(ctx, w, Cout, Cin, k * k, op), y);
    };
    if (eng.prefer_own(op, s, ConvEngine::kForward, "conv_small_cin", own, library)) own();
    else library();
    post(y);
    return;
  }
  const bf16* wb = krsc_weights(ctx, w, Cout, Cin, k * k, op);
  const auto unfused = [&](bf16* xx, bf16* ww, bf16* yy) {
    eng.forward(op, s, xx, ww, yy);
    post(yy);
  };
  if (eng.forward_fused(op, s, x, wb, y, epilogue, epilogue_tensors, unfused)) return;
  eng.forward(op, s, x, wb, y);
  post(y);
}

void conv2d_forward(const Ctx& ctx, const bf16* x, const float* w, const float* b, bf16* y,
                    int N, int Cin, int H, int W, int Cout, int k) {
  const char* op = "conv2d_forward";
  check_precision(*ctx.conv, op);
  if (k == 1 && conv1x1_narrow_applies(Cin, Cout, {x, y})) {
    need_positive(op, {N, Cin, H, W, Cout});
    conv1x1_narrow_forward(ctx, x, w, b, y, N, Cin, H * W, Cout);
    return;
  }
  ConvEpilogue bias;
  bias.shift = b != nullptr;
  ConvPointers tensors;
  tensors.shift = b;
  conv2d_forward_epilogue(ctx, x, w, y, N, Cin, H, W, Cout, k, bias, tensors,
                          [&](bf16* yy) { add_bias(ctx, yy, b, N, Cout, static_cast<long long>(H) * W, op); });
}

void conv2d_backward(const Ctx& ctx, const bf16* x, const float* w, const bf16* dy, bf16* dx,
                     float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv2d_backward";
  check_precision(eng, op);
  if (k != 1 && k != 3) throw Error("cuda conv2d_backward: kernel size must be 1 or 3, got " + std::to_string(k));
  need_positive(op, {N, Cin, H, W, Cout});
  if (k == 1 && conv1x1_narrow_applies(Cin, Cout, {x, dy, dx})) {
    conv1x1_narrow_backward(ctx, x, w, dy, dx, dw, db, N, Cin, H * W, Cout);
    return;
  }
  const ConvShape s{N, Cin, H, W, Cout, k, k / 2, 1};
  if (db) channel_sum(ctx, dy, db, N, Cout, H * W, op);
  const size_t pixels = static_cast<size_t>(N) * H * W;
  // side_ok: the side stream may run it (not inside prefer_own's timing, which waits on the main stream).
  const auto library_dw = [&](bool side_ok) {
    weight_gradient(ctx, op, s, x, pixels * Cin, dy, pixels * Cout, dw, Cout, Cin, k * k, side_ok);
  };
  const auto library_dx = [&] { eng.backward_data(op, s, krsc_weights(ctx, w, Cout, Cin, k * k, op), dy, dx); };
  if (!conv_small_cin_applies(Cin, Cout, k, {dy})) {
    library_dw(true);
    if (dx) library_dx();
    return;
  }
  // The first layer: its own kernels where they are faster (nhwc_conv_small_cin.cu),
  // else cuDNN, on padded channels unless DDPM_CUDA_PAD_CIN=0.
  const PaddedConv padded{ctx, op, s};
  const bool pad = eng.pad_small_cin();
  const auto own_dw = [&] { conv_small_cin_backward_filter(ctx, x, dy, dw, N, Cin, H, W, Cout); };
  const auto small_library_dw = [&](bool side_ok) {
    if (pad) padded.backward_filter(x, dy, dw);
    else library_dw(side_ok);
  };
  if (eng.prefer_own(op, s, ConvEngine::kBackwardFilter, "conv_small_cin", own_dw, [&] { small_library_dw(false); }))
    own_dw();
  else
    small_library_dw(true);
  if (!dx) return;
  const auto own_dx = [&] { conv_small_cin_backward_data(ctx, w, dy, dx, N, Cin, H, W, Cout); };
  const auto small_library_dx = [&] {
    if (pad) padded.backward_data(w, dy, dx);
    else library_dx();
  };
  if (eng.prefer_own(op, s, ConvEngine::kBackwardData, "conv_small_cin", own_dx, small_library_dx)) own_dx();
  else small_library_dx();
}

// The transposed conv's filter w (Cin, Cout, 2, 2) is the (K = Cin, C = Cout)
// filter of the strided conv (N, Cout, 2H, 2W) -> (N, Cin, H, W), as above.
void conv_transpose2x2_forward(const Ctx& ctx, const bf16* x, const float* w, const float* b,
                               bf16* y, int N, int Cin, int H, int W, int Cout) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv_transpose2x2_forward";
  check_precision(eng, op);
  need_positive(op, {N, Cin, H, W, Cout});
  const ConvShape s{N, Cout, 2 * H, 2 * W, Cin, 2, 0, 2};
  eng.backward_data(op, s, krsc_weights(ctx, w, Cin, Cout, 4, op), x, y);
  add_bias(ctx, y, b, N, Cout, 4LL * H * W, op);
}

void conv_transpose2x2_backward(const Ctx& ctx, const bf16* x, const float* w, const bf16* dy,
                                bf16* dx, float* dw, float* db, int N, int Cin, int H, int W, int Cout) {
  ConvEngine& eng = *ctx.conv;
  const char* op = "conv_transpose2x2_backward";
  check_precision(eng, op);
  need_positive(op, {N, Cin, H, W, Cout});
  const ConvShape s{N, Cout, 2 * H, 2 * W, Cin, 2, 0, 2};
  if (db) channel_sum(ctx, dy, db, N, Cout, 4 * H * W, op);
  const size_t pixels = static_cast<size_t>(N) * H * W;
  weight_gradient(ctx, op, s, dy, 4 * pixels * Cout, x, pixels * Cin, dw, Cin, Cout, 4);
  if (dx) eng.forward(op, s, dy, krsc_weights(ctx, w, Cin, Cout, 4, op), dx);
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
