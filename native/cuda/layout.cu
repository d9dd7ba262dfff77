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
#include <type_traits>

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

template <int C, typename In, typename Out>
__global__ void planar_to_interleaved_kernel(const In* __restrict__ in, Out* __restrict__ out, long long pixels,
                                             int HW) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < pixels; p += stride) {
    const long long n = p / HW, hw = p - n * HW;
    const In* src = in + n * C * HW + hw;
#pragma unroll
    for (int c = 0; c < C; ++c) out[p * C + c] = from_f32<Out>(to_f32(src[static_cast<long long>(c) * HW]));
  }
}

template <int C, typename In, typename Out>
__global__ void interleaved_to_planar_kernel(const In* __restrict__ in, Out* __restrict__ out, long long pixels,
                                             int HW) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < pixels; p += stride) {
    const long long n = p / HW, hw = p - n * HW;
    Out* dst = out + n * C * HW + hw;
#pragma unroll
    for (int c = 0; c < C; ++c) dst[static_cast<long long>(c) * HW] = from_f32<Out>(to_f32(in[p * C + c]));
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
  auto launch = [&](auto c_tag) {
    constexpr int kC = decltype(c_tag)::value;
    if constexpr (TO_INTERLEAVED)
      planar_to_interleaved_kernel<kC><<<grid, kThreads, 0, ctx.stream>>>(in, out, pixels, HW);
    else
      interleaved_to_planar_kernel<kC><<<grid, kThreads, 0, ctx.stream>>>(in, out, pixels, HW);
  };
  switch (C) {
    case 1: launch(std::integral_constant<int, 1>{}); break;
    case 2: launch(std::integral_constant<int, 2>{}); break;
    case 3: launch(std::integral_constant<int, 3>{}); break;
    case 4: launch(std::integral_constant<int, 4>{}); break;
    case 5: launch(std::integral_constant<int, 5>{}); break;
    case 6: launch(std::integral_constant<int, 6>{}); break;
    case 7: launch(std::integral_constant<int, 7>{}); break;
    default: launch(std::integral_constant<int, 8>{}); break;
  }
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
// contiguously.
namespace {
// TO_KRSC: w (K, C, RS) float -> out (K, RS, C) bf16; else back.
template <bool TO_KRSC, typename In, typename Out>
__device__ __forceinline__ void krsc_filters(const In* __restrict__ w, Out* __restrict__ out, long long KC, int C,
                                             int RS) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < KC; i += stride) {
    const long long k = i / C;
    const int c = static_cast<int>(i - k * C);
    for (int rs = 0; rs < RS; ++rs) {
      const long long kcrs = i * RS + rs, krsc = (k * RS + rs) * C + c;
      out[TO_KRSC ? krsc : kcrs] = from_f32<Out>(to_f32(w[TO_KRSC ? kcrs : krsc]));
    }
  }
}

template <bool TO_KRSC, typename In, typename Out>
__global__ void krsc_kernel(const In* __restrict__ w, Out* __restrict__ out, long long KC, int C, int RS) {
  krsc_filters<TO_KRSC>(w, out, KC, C, RS);
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
  krsc_filters<true>(job.w, job.out, job.KC, job.C, job.RS);
}

void check_filter(const char* op, int K, int C, int RS) {
  if (K <= 0 || C <= 0 || RS <= 0)
    throw Error(std::string("cuda ") + op + ": every filter dimension must be positive, got " + shape_str({K, C, RS}));
}
}  // namespace

void weights_to_krsc(const Ctx& ctx, const float* w, bf16* out, int K, int C, int RS, const char* op) {
  check_filter(op, K, C, RS);
  const long long KC = static_cast<long long>(K) * C;
  krsc_kernel<true><<<grid_for(KC, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(w, out, KC, C, RS);
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
// One thread per pixel: its C values, then zeros up to Cp (or the first C of Cp back).
__global__ void pad_channels_kernel(const bf16* __restrict__ x, bf16* __restrict__ xp, long long P, int C, int Cp) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const bf16 zero = __float2bfloat16_rn(0.0f);
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < P; p += stride)
    for (int c = 0; c < Cp; ++c) xp[p * Cp + c] = c < C ? x[p * C + c] : zero;
}

__global__ void unpad_channels_kernel(const bf16* __restrict__ xp, bf16* __restrict__ x, long long P, int C, int Cp) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < P; p += stride)
    for (int c = 0; c < C; ++c) x[p * C + c] = xp[p * Cp + c];
}

// One thread per (k, rs): w (K, C, RS) float32 -> out (K, RS, Cp) bf16, zero taps for c >= C.
__global__ void krsc_padded_kernel(const float* __restrict__ w, bf16* __restrict__ out, int K, int C, int Cp,
                                   int RS) {
  const long long KRS = static_cast<long long>(K) * RS;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < KRS; i += stride) {
    const long long k = i / RS;
    const int rs = static_cast<int>(i - k * RS);
    for (int c = 0; c < Cp; ++c)
      out[i * Cp + c] = __float2bfloat16_rn(c < C ? w[(k * C + c) * RS + rs] : 0.0f);
  }
}

// One thread per (k, c < C): its RS taps of the (K, RS, Cp) gradient into (K, C, RS).
__global__ void from_krsc_padded_kernel(const bf16* __restrict__ w, float* __restrict__ out, int K, int C, int Cp,
                                        int RS) {
  const long long KC = static_cast<long long>(K) * C;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < KC; i += stride) {
    const long long k = i / C;
    const int c = static_cast<int>(i - k * C);
    for (int rs = 0; rs < RS; ++rs) out[i * RS + rs] = __bfloat162float(w[(k * RS + rs) * Cp + c]);
  }
}

void check_padding(const char* op, long long P, int C, int Cp) {
  if (P <= 0 || C <= 0 || Cp < C)
    throw Error(std::string("cuda ") + op + ": channel padding needs P > 0 and 0 < C <= Cp, got " +
                shape_str({P, C, Cp}));
}
}  // namespace

void pad_channels(const Ctx& ctx, const bf16* x, bf16* xp, long long P, int C, int Cp, const char* op) {
  check_padding(op, P, C, Cp);
  pad_channels_kernel<<<grid_for(P, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(x, xp, P, C, Cp);
  check_launch(op);
}

void unpad_channels(const Ctx& ctx, const bf16* xp, bf16* x, long long P, int C, int Cp, const char* op) {
  check_padding(op, P, C, Cp);
  unpad_channels_kernel<<<grid_for(P, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(xp, x, P, C, Cp);
  check_launch(op);
}

void weights_to_krsc_padded(const Ctx& ctx, const float* w, bf16* out, int K, int C, int Cp, int RS,
                            const char* op) {
  check_filter(op, K, C, RS);
  check_padding(op, K, C, Cp);
  krsc_padded_kernel<<<grid_for(static_cast<long long>(K) * RS, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(
      w, out, K, C, Cp, RS);
  check_launch(op);
}

void weights_from_krsc_padded(const Ctx& ctx, const bf16* w, float* out, int K, int C, int Cp, int RS,
                              const char* op) {
  check_filter(op, K, C, RS);
  check_padding(op, K, C, Cp);
  from_krsc_padded_kernel<<<grid_for(static_cast<long long>(K) * C, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(
      w, out, K, C, Cp, RS);
  check_launch(op);
}

void weights_from_krsc(const Ctx& ctx, const bf16* w, float* out, int K, int C, int RS, const char* op) {
  check_filter(op, K, C, RS);
  const long long KC = static_cast<long long>(K) * C;
  if (RS <= kMaxStagedRS)
    from_krsc_staged_kernel<<<grid_for(KC, kStageFilters, ctx, 8), kStageFilters, 0, ctx.stream>>>(w, out, KC, C,
                                                                                                  RS);
  else
    krsc_kernel<false><<<grid_for(KC, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(w, out, KC, C, RS);
  check_launch(op);
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
