// The output layer's 1x1 convolution in precision bf16 (channels-last), at
// most 4 output channels: the GPU twin of the CPU's conv1x1_narrow.cpp.
//
// Why: cuDNN runs Cin = 64 -> Cout = 3 at batch 512 as a tensor-core GEMM
// padded to 8 or 16 output channels, at 0.4 ms forward and 0.3 ms backward
// on an H200 (cuda_check --profile), 20x what reading the 67 MB input
// costs. The layer is a memory pass: each pixel's Cin values dotted with
// Cout filters.
//   forward   y[p, k] = bf16(sum_c x[p, c] w[k, c] + b[k])       one thread a pixel
//   dx        dx[p, c] = bf16(sum_k dy[p, k] w[k, c])           one thread a pixel
//   dw, db    dw[k, c] = sum_p dy[p, k] x[p, c], db[k] = sum_p dy[p, k]:
//             blocks own fixed pixel ranges and write float partials, a
//             second kernel adds them in double in a fixed order
//             (deterministic for a shape).
// The weights are rounded to bf16 as for cuDNN's bf16 convolutions; sums are
// float (double across blocks). Bias is added before the one rounding of y
// (cuDNN + add_bias round twice).
#include <string>

#include "bf16.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {
namespace ops {
namespace nhwc {

namespace {

constexpr int kMaxCin = 1024;  // the weights live in shared memory: K * Cin floats

// The block's copy of the K x C weights, rounded to bf16 as cuDNN's bf16
// convolutions round them; returns once every thread's copy is done.
__device__ __forceinline__ void load_weights(float* ws, const float* __restrict__ w, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) ws[i] = __bfloat162float(__float2bfloat16(w[i]));
  __syncthreads();
}

template <int K>
__global__ void conv1x1_narrow_forward_kernel(const bf16* __restrict__ x, const float* __restrict__ w,
                                              const float* __restrict__ b, bf16* __restrict__ y, long long P, int C) {
  extern __shared__ float ws[];  // ws[k * C + c]
  load_weights(ws, w, K * C);
  const long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (p >= P) return;
  float acc[K];
#pragma unroll
  for (int k = 0; k < K; ++k) acc[k] = b ? b[k] : 0.0f;
  const bf16* xp = x + p * C;
  for (int c = 0; c < C; c += 8) {
    float v[8];
    load_bf16<8>(xp + c, v);
#pragma unroll
    for (int k = 0; k < K; ++k)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[k] = fmaf(v[j], ws[k * C + c + j], acc[k]);
  }
#pragma unroll
  for (int k = 0; k < K; ++k) y[p * K + k] = __float2bfloat16(acc[k]);
}

template <int K>
__global__ void conv1x1_narrow_dx_kernel(const bf16* __restrict__ dy, const float* __restrict__ w,
                                         bf16* __restrict__ dx, long long P, int C) {
  extern __shared__ float ws[];
  load_weights(ws, w, K * C);
  const long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (p >= P) return;
  float g[K];
#pragma unroll
  for (int k = 0; k < K; ++k) g[k] = __bfloat162float(dy[p * K + k]);
  bf16* dxp = dx + p * C;
  for (int c = 0; c < C; c += 8) {
    float o[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      float s = 0.0f;
#pragma unroll
      for (int k = 0; k < K; ++k) s = fmaf(g[k], ws[k * C + c + j], s);
      o[j] = s;
    }
    store_bf16<8>(dxp + c, o);
  }
}

// Block b sums pixels [b * chunk, min(P, (b + 1) * chunk)); thread (tx, ty)
// takes channels 8 tx .. 8 tx + 7 and every TY-th pixel from ty. The block
// adds its TY row partials in order into part[b][k * C + c] and, for the
// bias, part[b][K * C + k].
template <int K>
__global__ void conv1x1_narrow_dw_partial_kernel(const bf16* __restrict__ x, const bf16* __restrict__ dy, long long P,
                                                 int C, long long chunk, float* __restrict__ part) {
  extern __shared__ float sm[];  // [TY][TX][K * 8 + K]
  const int TX = blockDim.x, TY = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  constexpr int kPer = K * 8 + K;
  float acc[K][8], accb[K];
#pragma unroll
  for (int k = 0; k < K; ++k) {
    accb[k] = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[k][j] = 0.0f;
  }
  const long long p0 = blockIdx.x * chunk, p1 = min(P, p0 + chunk);
  const int c = 8 * tx;
  for (long long p = p0 + ty; p < p1; p += TY) {
    float v[8], g[K];
    load_bf16<8>(x + p * C + c, v);
#pragma unroll
    for (int k = 0; k < K; ++k) {
      g[k] = __bfloat162float(dy[p * K + k]);
      accb[k] += g[k];
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[k][j] = fmaf(g[k], v[j], acc[k][j]);
    }
  }
  float* mine = sm + (static_cast<long long>(ty) * TX + tx) * kPer;
#pragma unroll
  for (int k = 0; k < K; ++k) {
#pragma unroll
    for (int j = 0; j < 8; ++j) mine[k * 8 + j] = acc[k][j];
    mine[K * 8 + k] = accb[k];
  }
  __syncthreads();
  if (ty != 0) return;
  float* out = part + blockIdx.x * static_cast<long long>(K * C + K);
  for (int i = 0; i < K * 8; ++i) {
    float s = 0.0f;
    for (int r = 0; r < TY; ++r) s += sm[(static_cast<long long>(r) * TX + tx) * kPer + i];
    out[(i / 8) * C + c + i % 8] = s;
  }
  if (tx == 0) {
    for (int k = 0; k < K; ++k) {
      float s = 0.0f;
      for (int r = 0; r < TY; ++r) s += sm[static_cast<long long>(r) * TX * kPer + K * 8 + k];
      out[K * C + k] = s;
    }
  }
}

// dw[i] (i < K * C) and db[k] (i = K * C + k): the blocks' partials added in
// block order, in double.
__global__ void conv1x1_narrow_dw_finalize_kernel(const float* __restrict__ part, int blocks, int KC, int K,
                                                  float* __restrict__ dw, float* __restrict__ db) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= KC + K) return;
  if (i >= KC && !db) return;
  double s = 0.0;
  for (int b = 0; b < blocks; ++b) s += part[static_cast<long long>(b) * (KC + K) + i];
  if (i < KC) dw[i] = static_cast<float>(s);
  else db[i - KC] = static_cast<float>(s);
}

template <int K>
void forward_k(const Ctx& ctx, const bf16* x, const float* w, const float* b, bf16* y, long long P, int C) {
  const int threads = 256;
  const long long blocks = (P + threads - 1) / threads;
  conv1x1_narrow_forward_kernel<K><<<static_cast<unsigned>(blocks), threads, sizeof(float) * K * C, ctx.stream>>>(
      x, w, b, y, P, C);
}

template <int K>
void backward_k(const Ctx& ctx, const bf16* x, const float* w, const bf16* dy, bf16* dx, float* dw, float* db,
                long long P, int C, const char* op) {
  const int threads = 256;
  if (dx) {
    const long long blocks = (P + threads - 1) / threads;
    conv1x1_narrow_dx_kernel<K><<<static_cast<unsigned>(blocks), threads, sizeof(float) * K * C, ctx.stream>>>(
        dy, w, dx, P, C);
    check_launch(op);
  }
  const int TX = C / 8, TY = threads / TX > 0 ? threads / TX : 1;
  // About 4 blocks per SM, each a whole number of TY-row sweeps.
  const long long want = 4LL * ctx.sm_count;
  long long chunk = (P + want - 1) / want;
  chunk = (chunk + TY - 1) / TY * TY;
  const int blocks = static_cast<int>((P + chunk - 1) / chunk);
  float* part = static_cast<float*>(
      ctx.scratch->get(sizeof(float) * static_cast<size_t>(blocks) * (K * C + K), ctx.stream, op));
  const size_t smem = sizeof(float) * static_cast<size_t>(TX) * TY * (K * 8 + K);
  conv1x1_narrow_dw_partial_kernel<K><<<blocks, dim3(TX, TY), smem, ctx.stream>>>(x, dy, P, C, chunk, part);
  check_launch(op);
  conv1x1_narrow_dw_finalize_kernel<<<(K * C + K + 127) / 128, 128, 0, ctx.stream>>>(part, blocks, K * C, K, dw, db);
  check_launch(op);
}

}  // namespace

bool conv1x1_narrow_applies(int Cin, int Cout, std::initializer_list<const void*> bf16_ptrs) {
  // The partial kernel's block is (Cin / 8) x TY threads with TY >= 1 and
  // its shared memory TX * TY * (9 K) floats: Cin <= 1024 keeps both small.
  return Cout >= 1 && Cout <= 4 && Cin <= kMaxCin && nhwc_vec(Cin, bf16_ptrs) == 8;
}

void conv1x1_narrow_forward(const Ctx& ctx, const bf16* x, const float* w, const float* b, bf16* y, int N, int Cin,
                            int HW, int Cout) {
  const long long P = static_cast<long long>(N) * HW;
  with_count<4>(Cout, [&](auto k) { forward_k<k()>(ctx, x, w, b, y, P, Cin); });
  check_launch("conv2d_forward");
}

void conv1x1_narrow_backward(const Ctx& ctx, const bf16* x, const float* w, const bf16* dy, bf16* dx, float* dw,
                             float* db, int N, int Cin, int HW, int Cout) {
  const long long P = static_cast<long long>(N) * HW;
  const char* op = "conv2d_backward";
  with_count<4>(Cout, [&](auto k) { backward_k<k()>(ctx, x, w, dy, dx, dw, db, P, Cin, op); });
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
