// Layout conversions of the bf16 channels-last mode (bf16.cuh), all one
// tiled transpose with a type conversion on the way:
//   out[b][c][r] = in[b][r][c]   for b < B, r < R, c < Cols
// read and written through a 32x33 shared tile, so both sides are coalesced.
//   to_activation:    float32 (N, C, HW) -> bf16 (N, HW, C)     R = C,  Cols = HW
//   from_activation:  bf16 (N, HW, C) -> float32 (N, C, HW)     R = HW, Cols = C
//   conv weights:     float32 (K, C, R*S) -> bf16 (K, R*S, C)   (cuDNN's NHWC filter)
//   weight gradients: bf16 (K, R*S, C) -> float32 (K, C, R*S)
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
  transpose_convert(ctx, src, dst, N, C, HW, "to_activation");
}

void from_activation(const Ctx& ctx, const bf16* src, float* dst, int N, int C, int HW) {
  transpose_convert(ctx, src, dst, N, HW, C, "from_activation");
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

void weights_from_krsc(const Ctx& ctx, const bf16* w, float* out, int K, int C, int RS, const char* op) {
  check_filter(op, K, C, RS);
  const long long KC = static_cast<long long>(K) * C;
  krsc_kernel<false><<<grid_for(KC, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(w, out, KC, C, RS);
  check_launch(op);
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
