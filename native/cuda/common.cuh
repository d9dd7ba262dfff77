// Shared pieces of the CUDA backend: the per-backend launch context, error
// checking that throws ddpm::Error, and the small device helpers (warp and
// block reductions, the "group of lanes per (n, c) plane" mapping) that the
// kernel families build on.
//
// Layering, as in every file of this folder: a __global__ kernel, a launcher
// in namespace ddpm::cuda::ops (ops.h) that validates, sizes the grid and
// launches on ctx.stream, and the public entry in cuda_backend.cu.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "ddpm/backend.h"

struct cublasContext;  // cublas_v2.h: cublasHandle_t is a cublasContext*

namespace ddpm {
namespace cuda {

class GrowBuffer;   // bf16.cuh
class ConvEngine;   // conv.h
class WeightCache;  // weight_cache.h
class SideStream;   // side_stream.h

// A device-side error found by a kernel (bad timestep index, ...). Kernels
// write it (device memory) only when something is wrong; every
// synchronisation of the backend fetches it and throws.
struct DeviceError {
  int code;   // 0: none; see ErrorCode
  int index;  // offending element (e.g. the sample)
  int value;  // offending value
  int limit;  // the bound it broke
};
enum ErrorCode : int {
  kErrNone = 0,
  kErrEmbeddingIndex = 1,  // embedding_gather: t[n] outside [0, T)
  kErrNoiseAddIndex = 2,   // noise_add: t[n] outside [0, T) (T unknown: value < 0 only)
  kErrClassLabel = 3,      // class_embed_add / class_embed_backward: labels[n] outside [0, K)
  kErrLossWeightIndex = 4, // mse_weighted_forward_backward: t[n] < 0 (T unknown)
};

// The per-step scalars of a training step or a sampler's reverse step that a
// recorded (CUDA graph) step must not bake in: kernels that take a `const StepScalars*` read these from
// device memory when it is not null, else their by-value arguments (see
// step_graph.h).
struct StepScalars {
  uint64_t seed = 0, stream = 0, offset = 0;  // gaussian / uniform_int
  float* loss = nullptr;                      // mse_forward_backward's output slot
  AdamConstants adam{};                       // adam_update
  float ema_weight = 0.0f;                    // ema_update: 1 - decay (the warm-up moves it)
  // The sampler's steps: where their noise starts, and their coefficients.
  int64_t first_index = 0;                    // reverse_step, ddim_step, dpm_solver_step
  float c_x = 0.0f, c_eps = 0.0f, sigma = 0.0f;  // reverse_step
  float known_a = 0.0f, known_b = 0.0f;          // inpaint_blend
  DdimCoefficients ddim{};                    // ddim_step
  DpmSolverCoefficients dpm{};                // dpm_solver_step
};

// Sizes of the preallocated scratch (see CudaBackend's constructor).
constexpr int kMaxPartials = 1 << 16;     // (channel, slice) partial sums, 2 doubles each
constexpr int kMaxChannels = 1 << 16;     // per-channel coefficients, 8 floats each
constexpr int kThreads = 256;             // default block size

// Everything a launcher needs; owned by the backend, passed by reference.
struct Ctx {
  cudaStream_t stream = nullptr;
  int device = 0;
  int sm_count = 1;
  double* partials = nullptr;  // kMaxPartials * 2 doubles
  float* coef = nullptr;       // kMaxChannels * 8 floats
  DeviceError* error = nullptr;  // device-side error record (see DeviceError)
  class GrowBuffer* scratch = nullptr;  // reduction partials of the bf16 ops (bf16.cuh)
  ConvEngine* conv = nullptr;           // the cuDNN convolutions (conv.h)
  WeightCache* weights = nullptr;       // bf16 conv weights once per step (weight_cache.h); nullable
  SideStream* side = nullptr;           // weight gradients' stream (side_stream.h); nullable
  cublasContext* cublas = nullptr;      // the cuBLAS handle (the Linear GEMMs)
  // Inside a recorded step, the device copy of the running op's per-step
  // scalars, which its kernels read in place of their by-value arguments
  // (step_graph.h); nullptr otherwise. Set by the backend before each op.
  const StepScalars* step_scalars = nullptr;
};

// ---- errors -------------------------------------------------------------------
[[noreturn]] void throw_cuda(const char* op, const char* call, cudaError_t e);
inline void check(cudaError_t e, const char* op, const char* call) {
  if (e != cudaSuccess) throw_cuda(op, call, e);
}
// After a kernel launch: launch-configuration errors (and earlier sticky ones).
void check_launch(const char* op);

#define DDPM_CUDA(op, call) ::ddpm::cuda::check((call), (op), #call)

// Whether work enqueued on `stream` now is being captured into a CUDA graph
// (then nothing may allocate or synchronise).
inline bool capturing(cudaStream_t stream, const char* op) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  DDPM_CUDA(op, cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

// An event from a pool of reusable ones (its last), or a new one without timing.
inline cudaEvent_t take_pooled_event(std::vector<cudaEvent_t>& pool, const char* op) {
  if (!pool.empty()) {
    const cudaEvent_t e = pool.back();
    pool.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  DDPM_CUDA(op, cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

inline std::string shape_str(std::initializer_list<long long> dims) {
  std::string s = "(";
  bool first = true;
  for (long long d : dims) {
    if (!first) s += ", ";
    s += std::to_string(d);
    first = false;
  }
  return s + ")";
}

// ---- grid sizing -----------------------------------------------------------
inline int grid_for(long long work_items, int threads, const Ctx& ctx, int blocks_per_sm = 16) {
  long long blocks = (work_items + threads - 1) / threads;
  long long cap = static_cast<long long>(ctx.sm_count) * blocks_per_sm;
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return static_cast<int>(blocks);
}

// Lanes per plane for the group mapping: the smallest power of two >= the
// plane's length in vectors, at most 32.
inline int group_lanes(long long plane_vecs) {
  int g = 1;
  while (g < 32 && g < plane_vecs) g <<= 1;
  return g;
}

#if defined(__CUDACC__)
#define DDPM_CUDA_HD __host__ __device__
#else
#define DDPM_CUDA_HD
#endif

DDPM_CUDA_HD inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// f(std::integral_constant<int, n>{}) for n = count clamped to [1, Max]: one
// kernel instantiation per small channel count, so its channel loops unroll.
template <int Max, typename F>
void with_count(int count, F&& f) {
  if constexpr (Max > 1) {
    if (count < Max) return with_count<Max - 1>(count, f);
  }
  f(std::integral_constant<int, Max>{});
}

// ---- device helpers ----------------------------------------------------------
#if defined(__CUDACC__)

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// Sum over an aligned group of G lanes (G a power of two <= 32). Every lane
// of the warp must call it (the group loops below keep trip counts uniform).
__device__ __forceinline__ float group_sum(float v, int G) {
  for (int o = G >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024). The
// result is valid in thread 0. smem holds 32 doubles. Fixed order, so the
// result is deterministic for a given launch shape.
__device__ __forceinline__ double block_sum(double v, double* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // smem may be reused by a previous call
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  v = (threadIdx.x < warps) ? smem[threadIdx.x] : 0.0;
  if (warp == 0) v = warp_sum(v);
  return v;
}

// The second stage of a two-stage reduction, run by one block: the sum of the
// first stage's per-block partials, in a fixed order (valid in thread 0).
__device__ __forceinline__ double sum_partials(const double* __restrict__ partials, int blocks, double* smem) {
  double s = 0.0;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) s += partials[i];
  return block_sum(s, smem);
}

// Report a device-side error once (the first one wins).
__device__ __forceinline__ void report_error(DeviceError* e, int code, int index, int value, int limit) {
  if (atomicCAS(&e->code, 0, -1) == 0) {
    e->index = index;
    e->value = value;
    e->limit = limit;
    __threadfence();
    atomicExch(&e->code, code);
  }
}

// VEC consecutive floats (VEC = 1 or 4; 4 needs 16-byte alignment).
template <int VEC>
__device__ __forceinline__ void load_vec(const float* p, float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
    v[0] = *p;
  }
}
template <int VEC>
__device__ __forceinline__ void store_vec(float* p, const float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
    *p = v[0];
  }
}

#endif  // __CUDACC__

}  // namespace cuda
}  // namespace ddpm
