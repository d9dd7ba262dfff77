// Layout conversions of the bf16 channels-last mode (bf16.cuh), all one
// tiled transpose with a type conversion on the way:
//   out[b][c][r] = in[b][r][c]   for b < B, r < R, c < Cols
// read and written through a 32x33 shared tile, so both sides are coalesced.
//   to_activation:    float32 (N, C, HW) -> bf16 (N, HW, C)     R = C,  Cols = HW
//   from_activation:  bf16 (N, HW, C) -> float32 (N, C, HW)     R = HW, Cols = C
//   conv weights:     float32 (K, C, R*S) -> bf16 (K, R*S, C)   (cuDNN's NHWC filter)
//   weight gradients: bf16 (K, R*S, C) -> float32 (K, C, R*S)
// except where a narrow side makes that wasteful: the filters (R*S = 9
// columns) and the image-side activations (C <= 8) have their own kernels.
#include <string>

#include "bf16.cuh"
#include "ops.h"
#include "weight_cache.h"
#include "step_graph.h"

namespace ddpm {
namespace cuda {

namespace {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }
template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 from_f32<bf16>(float v) { return __float2bfloat16_rn(v); }

constexpr int kTile = 32, kTileRows = 8;

template <typename In, typename Out>
__global__ void transpose_convert_kernel(const In* __restrict__ in, Out* __restrict__ out, int B, int R,
                                         int Cols) {
  __shared__ float tile[kTile][kTile + 1];
  const int r0 = blockIdx.y * kTile, c0 = blockIdx.x * kTile;
  const long long plane = static_cast<long long>(R) * Cols;
  for (int b = blockIdx.z; b < B; b += gridDim.z) {
    const In* src = in + b * plane;
    Out* dst = out + b * plane;
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {
      const int r = r0 + k, c = c0 + threadIdx.x;
      if (r < R && c < Cols) tile[k][threadIdx.x] = to_f32(src[static_cast<long long>(r) * Cols + c]);
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {
      const int c = c0 + k, r = r0 + threadIdx.x;
      if (r < R && c < Cols) dst[static_cast<long long>(c) * R + r] = from_f32<Out>(tile[threadIdx.x][k]);
    }
    __syncthreads();  // the tile is refilled for the next b
  }
}

template <typename In, typename Out>
void transpose_convert(const Ctx& ctx, const In* in, Out* out, long long B, long long R, long long Cols,
                       const char* op) {
  if (B <= 0 || R <= 0 || Cols <= 0)
    throw Error(std::string("cuda ") + op + ": every dimension must be positive, got " + shape_str({B, R, Cols}));
  const long long gx = (Cols + kTile - 1) / kTile, gy = (R + kTile - 1) / kTile;
  if (gx > 0x7fffffffLL || gy > 65535 || R * Cols > (1LL << 40))
    throw Error(std::string("cuda ") + op + ": tensor too large for the layout kernel " + shape_str({B, R, Cols}));
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                  static_cast<unsigned>(B < 65535 ? B : 65535));
  transpose_convert_kernel<In, Out><<<grid, dim3(kTile, kTileRows), 0, ctx.stream>>>(
      in, out, static_cast<int>(B), static_cast<int>(R), static_cast<int>(Cols));
  check_launch(op);
}

// The image-side conversions have C = 1..4 channels (the model's input and
// output): the tiled transpose would leave most of a 32-row tile empty (an
// H200 ran them at 60-130 GB/s). One thread per pixel instead moves its C
// values: the planar side is read or written coalesced across the pixels,
// the interleaved side as one contiguous run per warp.
constexpr int kSmallC = 8;

// TO_INTERLEAVED: planar (N, C, HW) -> interleaved (N, HW, C); else back.
template <bool TO_INTERLEAVED, int C, typename In, typename Out>
__global__ void small_c_kernel(const In* __restrict__ in, Out* __restrict__ out, long long pixels, int HW) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < pixels; p += stride) {
    const long long n = p / HW, hw = p - n * HW;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const long long planar = (n * C + c) * HW + hw, interleaved = p * C + c;
      out[TO_INTERLEAVED ? interleaved : planar] = from_f32<Out>(to_f32(in[TO_INTERLEAVED ? planar : interleaved]));
    }
  }
}

// planar (N, C, HW) <-> interleaved (N, HW, C) for C <= kSmallC, one
// instantiation per C so the channel loop unrolls.
template <bool TO_INTERLEAVED, typename In, typename Out>
void small_c_convert(const Ctx& ctx, const In* in, Out* out, int N, int C, int HW, const char* op) {
  if (N <= 0 || C <= 0 || HW <= 0)
    throw Error(std::string("cuda ") + op + ": every dimension must be positive, got " + shape_str({N, C, HW}));
  const long long pixels = static_cast<long long>(N) * HW;
  const int grid = grid_for(pixels, kThreads, ctx, 8);
  with_count<kSmallC>(C, [&](auto c) {
    small_c_kernel<TO_INTERLEAVED, c()><<<grid, kThreads, 0, ctx.stream>>>(in, out, pixels, HW);
  });
  check_launch(op);
}

}  // namespace

GrowBuffer::~GrowBuffer() {
  if (p_) cudaFree(p_);
}

void* GrowBuffer::get(size_t bytes, cudaStream_t stream, const char* op) {
  if (bytes <= bytes_) return p_;
  const size_t rounded = (bytes + (1u << 20) - 1) & ~static_cast<size_t>((1u << 20) - 1);
  DDPM_CUDA(op, cudaStreamSynchronize(stream));
  if (p_) {
    DDPM_CUDA(op, cudaFree(p_));
    p_ = nullptr;
    bytes_ = 0;
  }
  note_device_realloc();  // recorded steps holding the old block are stale
  const cudaError_t e = cudaMalloc(&p_, rounded);
  if (e != cudaSuccess) {
    p_ = nullptr;
    cudaGetLastError();
    throw Error(std::string("cuda ") + op + ": cannot allocate " + std::to_string(rounded >> 20) +
                " MiB of scratch: " + cudaGetErrorString(e));
  }
  bytes_ = rounded;
  return p_;
}

namespace ops {
namespace nhwc {

void to_activation(const Ctx& ctx, const float* src, bf16* dst, int N, int C, int HW) {
  if (C >= 1 && C <= kSmallC) small_c_convert<true>(ctx, src, dst, N, C, HW, "to_activation");
  else transpose_convert(ctx, src, dst, N, C, HW, "to_activation");
}

void from_activation(const Ctx& ctx, const bf16* src, float* dst, int N, int C, int HW) {
  if (C >= 1 && C <= kSmallC) small_c_convert<false>(ctx, src, dst, N, C, HW, "from_activation");
  else transpose_convert(ctx, src, dst, N, HW, C, "from_activation");
}

// Filters: one thread per (k, c) moves its RS taps. The tile transpose above
// would leave 23 of 32 lanes idle on RS = 9 columns; here a warp reads 32
// filters' taps as one contiguous run and writes each tap's 32 channels
// contiguously. The KRSC side may have Cp >= C channels (the first layer
// padded for cuDNN, conv.cu): zero taps there, skipped on the way back.
namespace {
// TO_KRSC: w (K, C, RS) float -> out (K, RS, Cp) bf16; else back. KCp = K * Cp.
template <bool TO_KRSC, typename In, typename Out>
__device__ __forceinline__ void krsc_filters(const In* __restrict__ w, Out* __restrict__ out, long long KCp, int C,
                                             int Cp, int RS) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < KCp; i += stride) {
    const long long k = i / Cp;
    const int c = static_cast<int>(i - k * Cp);
    for (int rs = 0; rs < RS; ++rs) {
      const long long kcrs = (k * C + c) * RS + rs, krsc = (k * RS + rs) * Cp + c;
      if (TO_KRSC) out[krsc] = from_f32<Out>(c < C ? to_f32(w[kcrs]) : 0.0f);
      else if (c < C) out[kcrs] = from_f32<Out>(to_f32(w[krsc]));
    }
  }
}

template <bool TO_KRSC, typename In, typename Out>
__global__ void krsc_kernel(const In* __restrict__ w, Out* __restrict__ out, long long KCp, int C, int Cp, int RS) {
  krsc_filters<TO_KRSC>(w, out, KCp, C, Cp, RS);
}

// Back from KRSC (weight gradients, bf16 -> float32): the per-thread moves
// above would store each thread's RS taps 4*RS bytes apart from the next
// thread's, RS times the store transactions (an H200 ran them at ~400
// GB/s, against ~3,300 the other way, where the strided side is a load that
// L1 caches). A block instead stages kStageFilters filters' taps in shared
// memory, read per tap (coalesced over c), and writes the block's (k, c)
// range of the KCRS output as one contiguous run.
constexpr int kStageFilters = 256;  // = the block size
constexpr int kMaxStagedRS = 16;    // 16 KiB of float taps; larger filters take the per-thread path

__global__ void __launch_bounds__(kStageFilters) from_krsc_staged_kernel(const bf16* __restrict__ w,
                                                                       float* __restrict__ out, long long KC, int C,
                                                                       int RS) {
  __shared__ float taps[kStageFilters * kMaxStagedRS];
  for (long long i0 = static_cast<long long>(blockIdx.x) * kStageFilters; i0 < KC;
       i0 += static_cast<long long>(gridDim.x) * kStageFilters) {
    const int n = static_cast<int>(KC - i0 < kStageFilters ? KC - i0 : kStageFilters);
    const int t = threadIdx.x;
    if (t < n) {
      const long long i = i0 + t, k = i / C;
      const int c = static_cast<int>(i - k * C);
      const bf16* src = w + k * RS * C + c;
      for (int rs = 0; rs < RS; ++rs) taps[t * RS + rs] = __bfloat162float(src[static_cast<long long>(rs) * C]);
    }
    __syncthreads();
    float* dst = out + i0 * RS;
    for (int j = t; j < n * RS; j += kStageFilters) dst[j] = taps[j];
    __syncthreads();  // the taps are refilled for the next range
  }
}

// WeightCache's batched conversion: job blockIdx.y, the same moves.
__global__ void krsc_batched_kernel(const KrscJob* __restrict__ jobs) {
  const KrscJob job = jobs[blockIdx.y];
  krsc_filters<true>(job.w, job.out, job.KC, job.C, job.C, job.RS);
}

void check_filter(const char* op, int K, int C, int RS) {
  if (K <= 0 || C <= 0 || RS <= 0)
    throw Error(std::string("cuda ") + op + ": every filter dimension must be positive, got " + shape_str({K, C, RS}));
}
}  // namespace

void weights_to_krsc(const Ctx& ctx, const float* w, bf16* out, int K, int C, int RS, const char* op, int Cp) {
  check_filter(op, K, C, RS);
  if (Cp < C) Cp = C;
  const long long KCp = static_cast<long long>(K) * Cp;
  krsc_kernel<true><<<grid_for(KCp, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(w, out, KCp, C, Cp, RS);
  check_launch(op);
}

void weights_to_krsc_batched(const Ctx& ctx, const KrscJob* jobs, int njobs, long long max_kc, const char* op) {
  if (njobs <= 0 || max_kc <= 0) return;
  if (njobs > 65535) throw Error(std::string("cuda ") + op + ": too many weights for one conversion launch");
  const dim3 grid(static_cast<unsigned>(grid_for(max_kc, kThreads, ctx, 8)), static_cast<unsigned>(njobs));
  krsc_batched_kernel<<<grid, kThreads, 0, ctx.stream>>>(jobs);
  check_launch(op);
}

// ---- channel padding (the first layer on cuDNN, conv.cu) ----------------------------
namespace {
// One thread per pixel: dst's Cdst channels are src's first ones, zeros past Csrc.
__global__ void copy_channels_kernel(const bf16* __restrict__ src, bf16* __restrict__ dst, long long P, int Csrc,
                                     int Cdst) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const bf16 zero = __float2bfloat16_rn(0.0f);
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < P; p += stride)
    for (int c = 0; c < Cdst; ++c) dst[p * Cdst + c] = c < Csrc ? src[p * Csrc + c] : zero;
}
}  // namespace

void copy_channels(const Ctx& ctx, const bf16* src, bf16* dst, long long P, int Csrc, int Cdst, const char* op) {
  if (P <= 0 || Csrc <= 0 || Cdst <= 0)
    throw Error(std::string("cuda ") + op + ": every dimension must be positive, got " + shape_str({P, Csrc, Cdst}));
  copy_channels_kernel<<<grid_for(P, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(src, dst, P, Csrc, Cdst);
  check_launch(op);
}

void weights_from_krsc(const Ctx& ctx, const bf16* w, float* out, int K, int C, int RS, const char* op, int Cp) {
  check_filter(op, K, C, RS);
  if (Cp < C) Cp = C;
  const long long KC = static_cast<long long>(K) * C, KCp = static_cast<long long>(K) * Cp;
  if (Cp == C && RS <= kMaxStagedRS)
    from_krsc_staged_kernel<<<grid_for(KC, kStageFilters, ctx, 8), kStageFilters, 0, ctx.stream>>>(w, out, KC, C,
                                                                                                  RS);
  else
    krsc_kernel<false><<<grid_for(KCp, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(w, out, KCp, C, Cp, RS);
  check_launch(op);
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
