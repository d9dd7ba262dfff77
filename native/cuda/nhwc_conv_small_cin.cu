// The first layer's 3x3 convolution in precision bf16 (channels-last), from
// at most 4 input channels: the GPU twin of the CPU's conv_small_cin.cpp.
//
// Why: cuDNN's NHWC bf16 kernels want channel counts that are multiples of
// 8, so Cin = 3 runs padded, or on algorithms that took milliseconds (its
// weight gradient, algorithm 0, took 2.3 ms of an H200 step at batch 512).
// The layer does 27 multiply-adds per output value: each direction is a
// pass over the large tensor (y forward, dy backward). Whether these
// kernels or cuDNN's run a shape and direction is decided once by timing
// both (ConvEngine::prefer_own; DDPM_CUDA_SMALL_CIN=auto|off|force).
//   forward  y[p, k] = bf16(sum_{tap, c} x[p + tap, c] w[k, c, tap])    thread per (pixel, 8 k)
//   dx       dx[p, c] = bf16(sum_{tap, k} dy[p - tap, k] w[k, c, tap])  thread per pixel
//   dw       dw[k, c, tap] = sum_p dy[p, k] x[p + tap, c]: blocks own pixel
//            ranges, threads 2 k each and every TY-th pixel, float
//            partials per block; fold_slices adds the blocks' partials in
//            double in a fixed order (deterministic for a shape).
// The weights are rounded to bf16 as for cuDNN's bf16 convolutions; sums
// are float.
#include <string>

#include "bf16.cuh"
#include "fold.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {
namespace ops {
namespace nhwc {

namespace {

constexpr int kMaxK = 256;  // the filter lives in shared memory: 9 * Cin * K floats
constexpr int kThreadsSmall = 256;

__device__ __forceinline__ float bf16_round(float v) { return __bfloat162float(__float2bfloat16(v)); }

// The pixel p = (n * H + h) * W + w of an (N, H, W) grid.
struct Pixel {
  long long n;
  int h, w;
};
__device__ __forceinline__ Pixel pixel_of(long long p, int H, int W) {
  Pixel q;
  q.w = static_cast<int>(p % W);
  const long long nh = p / W;
  q.h = static_cast<int>(nh % H);
  q.n = nh / H;
  return q;
}

// fn(j, x value) for each input tap j = (r * 3 + s) * CIN + c of output
// pixel q that lies inside the image (zero padding: the others are skipped).
// Inlined and unrolled, j is a constant in each call.
template <int CIN, typename Fn>
__device__ __forceinline__ void for_each_tap(const bf16* __restrict__ x, const Pixel& q, int H, int W, Fn&& fn) {
#pragma unroll
  for (int r = 0; r < 3; ++r) {
    const int h = q.h + r - 1;
    if (h < 0 || h >= H) continue;
#pragma unroll
    for (int s = 0; s < 3; ++s) {
      const int ww = q.w + s - 1;
      if (ww < 0 || ww >= W) continue;
      const bf16* xp = x + ((q.n * H + h) * W + ww) * CIN;
#pragma unroll
      for (int c = 0; c < CIN; ++c) fn((r * 3 + s) * CIN + c, __bfloat162float(xp[c]));
    }
  }
}

template <int CIN>
__global__ void small_cin_forward_kernel(const bf16* __restrict__ x, const float* __restrict__ w,
                                         bf16* __restrict__ y, int N, int H, int W, int K) {
  extern __shared__ float ws[];  // ws[(tap * CIN + c) * K + k]
  for (int i = threadIdx.x; i < 9 * CIN * K; i += blockDim.x) {
    const int k = i % K, tc = i / K;
    ws[i] = bf16_round(w[(k * CIN + tc % CIN) * 9 + tc / CIN]);
  }
  __syncthreads();
  const int G = K / 8;
  const long long total = static_cast<long long>(N) * H * W * G;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int g = static_cast<int>(i % G);
    const long long p = i / G;
    const Pixel q = pixel_of(p, H, W);
    float acc[8];
#pragma unroll
    for (int v = 0; v < 8; ++v) acc[v] = 0.0f;
    for_each_tap<CIN>(x, q, H, W, [&](int j, float xv) {
      const float* wp = ws + j * K + g * 8;
#pragma unroll
      for (int v = 0; v < 8; ++v) acc[v] = fmaf(xv, wp[v], acc[v]);
    });
    store_bf16<8>(y + p * K + g * 8, acc);
  }
}

template <int CIN>
__global__ void small_cin_dx_kernel(const bf16* __restrict__ dy, const float* __restrict__ w, bf16* __restrict__ dx,
                                    int N, int H, int W, int K) {
  extern __shared__ float ws[];  // ws[(tap * K + k) * CIN + c]
  for (int i = threadIdx.x; i < 9 * K * CIN; i += blockDim.x) {
    const int c = i % CIN, tk = i / CIN;
    ws[i] = bf16_round(w[((tk % K) * CIN + c) * 9 + tk / K]);
  }
  __syncthreads();
  const long long P = static_cast<long long>(N) * H * W;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < P; p += stride) {
    const Pixel q = pixel_of(p, H, W);
    float acc[CIN];
#pragma unroll
    for (int c = 0; c < CIN; ++c) acc[c] = 0.0f;
    // x[h, w] met tap (r, s) of the output pixel (h - r + 1, w - s + 1).
#pragma unroll
    for (int r = 0; r < 3; ++r) {
      const int ho = q.h - r + 1;
      if (ho < 0 || ho >= H) continue;
#pragma unroll
      for (int s = 0; s < 3; ++s) {
        const int wo = q.w - s + 1;
        if (wo < 0 || wo >= W) continue;
        const bf16* dp = dy + ((q.n * H + ho) * W + wo) * K;
        const float* wt = ws + (r * 3 + s) * K * CIN;
        for (int k = 0; k < K; k += 8) {
          float d[8];
          load_bf16<8>(dp + k, d);
#pragma unroll
          for (int v = 0; v < 8; ++v)
#pragma unroll
            for (int c = 0; c < CIN; ++c) acc[c] = fmaf(d[v], wt[(k + v) * CIN + c], acc[c]);
        }
      }
    }
    bf16* o = dx + p * CIN;
#pragma unroll
    for (int c = 0; c < CIN; ++c) o[c] = __float2bfloat16(acc[c]);
  }
}

// Block b sums the pixels [b * chunk, min(P, (b + 1) * chunk)); thread
// (tx, ty) takes output channels 2 tx and 2 tx + 1 and every TY-th pixel
// from ty (a warp reads one pixel's dy row; the input taps are the same for
// the warp). The block adds its TY partials in order into
// part[b][(tap * CIN + c) * K + k].
template <int CIN>
__global__ void small_cin_dw_partial_kernel(const bf16* __restrict__ x, const bf16* __restrict__ dy, int N, int H,
                                            int W, int K, long long chunk, float* __restrict__ part) {
  __shared__ float sm[2 * kThreadsSmall];  // [TY][K]: TY * 2 TX <= 2 * blockDim
  const int TY = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const int k = 2 * tx;
  float acc[9 * CIN][2];
#pragma unroll
  for (int j = 0; j < 9 * CIN; ++j) acc[j][0] = acc[j][1] = 0.0f;
  const long long P = static_cast<long long>(N) * H * W;
  const long long p0 = blockIdx.x * chunk, p1 = min(P, p0 + chunk);
  for (long long p = p0 + ty; p < p1; p += TY) {
    const Pixel q = pixel_of(p, H, W);
    const __nv_bfloat162 g2 = *reinterpret_cast<const __nv_bfloat162*>(dy + p * K + k);
    const float g0 = __low2float(g2), g1 = __high2float(g2);
    for_each_tap<CIN>(x, q, H, W, [&](int j, float xv) {
      acc[j][0] = fmaf(g0, xv, acc[j][0]);
      acc[j][1] = fmaf(g1, xv, acc[j][1]);
    });
  }
  float* out = part + blockIdx.x * static_cast<long long>(9 * CIN * K);
#pragma unroll
  for (int j = 0; j < 9 * CIN; ++j) {
    sm[ty * K + k] = acc[j][0];
    sm[ty * K + k + 1] = acc[j][1];
    __syncthreads();
    if (ty == 0) {
      float s0 = 0.0f, s1 = 0.0f;
      for (int r = 0; r < TY; ++r) {
        s0 += sm[r * K + k];
        s1 += sm[r * K + k + 1];
      }
      out[j * K + k] = s0;
      out[j * K + k + 1] = s1;
    }
    __syncthreads();
  }
}

// dw (K, CIN, 3, 3) float32, overwritten: the blocks' partials of output
// o = (tap * CIN + c) * K + k added by fold_slices.
__global__ void __launch_bounds__(kFoldChannels * kFoldLanes) small_cin_dw_finalize_kernel(const float* __restrict__ part, long long blocks, int CIN, int K,
                                             float* __restrict__ dw) {
  __shared__ FoldShared<1> sm;
  double sum[1];
  const int O = 9 * CIN * K;
  fold_slices<1>(part, blocks, O, sm, sum);
  const int o = fold_channel();
  if (threadIdx.y != 0 || o >= O) return;
  const int k = o % K, tc = o / K;
  dw[(k * CIN + tc % CIN) * 9 + tc / CIN] = static_cast<float>(sum[0]);
}

int grid_of(long long work, const Ctx& ctx) { return grid_for(work, kThreadsSmall, ctx, 8); }

template <int CIN>
void forward_c(const Ctx& ctx, const bf16* x, const float* w, bf16* y, int N, int H, int W, int K) {
  const long long work = static_cast<long long>(N) * H * W * (K / 8);
  small_cin_forward_kernel<CIN><<<grid_of(work, ctx), kThreadsSmall, sizeof(float) * 9 * CIN * K, ctx.stream>>>(
      x, w, y, N, H, W, K);
}

template <int CIN>
void dx_c(const Ctx& ctx, const float* w, const bf16* dy, bf16* dx, int N, int H, int W, int K) {
  const long long P = static_cast<long long>(N) * H * W;
  small_cin_dx_kernel<CIN><<<grid_of(P, ctx), kThreadsSmall, sizeof(float) * 9 * CIN * K, ctx.stream>>>(
      dy, w, dx, N, H, W, K);
}

template <int CIN>
void dw_c(const Ctx& ctx, const bf16* x, const bf16* dy, float* dw, int N, int H, int W, int K, const char* op) {
  const long long P = static_cast<long long>(N) * H * W;
  const int TX = K / 2, TY = kThreadsSmall / TX;
  // About 8 blocks per SM, each a whole number of TY-pixel sweeps.
  const long long want = 8LL * ctx.sm_count;
  long long chunk = (P + want - 1) / want;
  chunk = (chunk + TY - 1) / TY * TY;
  const long long blocks = (P + chunk - 1) / chunk;
  const int O = 9 * CIN * K;
  float* part =
      static_cast<float*>(ctx.scratch->get(sizeof(float) * static_cast<size_t>(blocks) * O, ctx.stream, op));
  small_cin_dw_partial_kernel<CIN><<<static_cast<unsigned>(blocks), dim3(TX, TY), 0, ctx.stream>>>(x, dy, N, H, W, K,
                                                                                                    chunk, part);
  check_launch(op);
  small_cin_dw_finalize_kernel<<<fold_grid(O), fold_block(), 0, ctx.stream>>>(part, blocks, CIN, K, dw);
}

}  // namespace

bool conv_small_cin_applies(int Cin, int Cout, int k, std::initializer_list<const void*> bf16_ptrs) {
  return k == 3 && Cin >= 1 && Cin <= 4 && Cout <= kMaxK && nhwc_vec(Cout, bf16_ptrs) == 8;
}

void conv_small_cin_forward(const Ctx& ctx, const bf16* x, const float* w, bf16* y, int N, int Cin, int H, int W,
                            int Cout) {
  with_count<4>(Cin, [&](auto c) { forward_c<c()>(ctx, x, w, y, N, H, W, Cout); });
  check_launch("conv2d_forward");
}

void conv_small_cin_backward_data(const Ctx& ctx, const float* w, const bf16* dy, bf16* dx, int N, int Cin, int H,
                                  int W, int Cout) {
  with_count<4>(Cin, [&](auto c) { dx_c<c()>(ctx, w, dy, dx, N, H, W, Cout); });
  check_launch("conv2d_backward");
}

void conv_small_cin_backward_filter(const Ctx& ctx, const bf16* x, const bf16* dy, float* dw, int N, int Cin, int H,
                                    int W, int Cout) {
  const char* op = "conv2d_backward";
  with_count<4>(Cin, [&](auto c) { dw_c<c()>(ctx, x, dy, dw, N, H, W, Cout, op); });
  check_launch(op);
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
