// BatchNorm fused with ReLU and the optional per-(n, c) add after the ReLU,
// forward (training and eval) and backward, as the CPU twin in
// native/cpu/batchnorm.cpp.
//
// Forward, training: two passes over x.
//   1. bn_stats: grid (C, S); block (c, s) owns the planes (n, c) with
//      n = s*groups + group (+ S*groups ...), a group of G lanes per plane.
//      Sums of d = x - x[0, c, 0] and d^2 (shifted, so a large mean does not
//      cancel) in float per lane and plane, in double across planes and
//      the block; one (sum, sumsq) pair per block into ctx.partials.
//   2. bn_finalize_train: one thread per channel adds the S partials in a
//      fixed order, writes save_mean/save_invstd, updates the running
//      statistics as PyTorch (momentum, unbiased variance) and leaves
//      scale = gamma*invstd, shift = beta - mean*scale in ctx.coef.
//   3. bn_apply: y = relu(x*scale + shift) + add[n, c], one pass.
// Eval: bn_finalize_eval (scale/shift from the running statistics) + bn_apply.
//
// Backward: two passes over (x, dy).
//   1. bn_bwd_reduce: same grid; recomputes the ReLU mask from x and the
//      saved statistics, sums g = mask*dy and g*(x - mean) per channel, and
//      (when dadd is wanted) sum dy per plane with a group shuffle reduction.
//   2. bn_bwd_finalize: dgamma, dbeta and the dx coefficients per channel.
//   3. bn_bwd_dx: dx = scale * (g - mean(g) - xhat * mean(g*xhat)).
//
// The ReLU mask is computed with explicitly rounded multiply and add
// (__fmul_rn/__fadd_rn: no FMA contraction), the same two roundings as the
// CPU source, so both backends agree on which elements pass the ReLU.
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

// Coefficient slots per channel in ctx.coef (8 floats per channel).
enum Coef { kScale = 0, kShift = 1, kMean = 2, kInvstd = 3, kMeanG = 4, kMeanGX = 5 };

__device__ __forceinline__ float bn_pre(float x, float scale, float shift) {
  return __fadd_rn(__fmul_rn(x, scale), shift);
}

// ---- forward ---------------------------------------------------------------------

template <int VEC>
__global__ void bn_stats_kernel(const float* __restrict__ x, int N, int C, int plane_vecs, int G,
                                double* __restrict__ partials) {
  __shared__ double smem[32];
  const int c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const int lane = threadIdx.x & (G - 1), group = threadIdx.x / G, groups = blockDim.x / G;
  const long long HW = static_cast<long long>(plane_vecs) * VEC;
  const float k = __ldg(x + static_cast<long long>(c) * HW);  // x[0, c, 0]: the shift
  double s1 = 0.0, s2 = 0.0;
  for (int n = s * groups + group; n < N; n += S * groups) {
    const float* p = x + (static_cast<long long>(n) * C + c) * HW;
    float a1 = 0.0f, a2 = 0.0f;
    for (int i = lane; i < plane_vecs; i += G) {
      float v[VEC];
      load_vec<VEC>(p + static_cast<long long>(i) * VEC, v);
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const float d = v[j] - k;
        a1 += d;
        a2 += d * d;
      }
    }
    s1 += a1;
    s2 += a2;
  }
  s1 = block_sum(s1, smem);
  s2 = block_sum(s2, smem);
  if (threadIdx.x == 0) {
    double* out = partials + 2 * (static_cast<long long>(s) * C + c);
    out[0] = s1;
    out[1] = s2;
  }
}

__global__ void bn_finalize_train_kernel(const double* __restrict__ partials, int S, int C,
                                         const float* __restrict__ x, long long HW, long long M,
                                         const float* __restrict__ gamma, const float* __restrict__ beta,
                                         const float* __restrict__ conv_bias, float* __restrict__ running_mean,
                                         float* __restrict__ running_var, float* __restrict__ save_mean,
                                         float* __restrict__ save_invstd, float momentum, float eps,
                                         float* __restrict__ coef) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s1 = 0.0, s2 = 0.0;
  for (int k = 0; k < S; ++k) {
    const double* p = partials + 2 * (static_cast<long long>(k) * C + c);
    s1 += p[0];
    s2 += p[1];
  }
  const double Md = static_cast<double>(M);
  const double md = s1 / Md;
  double var = s2 / Md - md * md;
  if (var < 0.0) var = 0.0;
  const double mu = static_cast<double>(x[static_cast<long long>(c) * HW]) + md;
  const float mean = static_cast<float>(mu);
  const float invstd = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
  save_mean[c] = mean;
  save_invstd[c] = invstd;
  const double unbiased = var * Md / static_cast<double>(M - 1);
  // The batch mean of x + conv_bias (ops.def): x's statistics normalise it.
  const double batch_mean = conv_bias ? mu + static_cast<double>(conv_bias[c]) : mu;
  running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * batch_mean);
  running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
  const float scale = __fmul_rn(gamma[c], invstd);
  coef[8 * c + kScale] = scale;
  coef[8 * c + kShift] = __fsub_rn(beta[c], __fmul_rn(mean, scale));
}

__global__ void bn_finalize_eval_kernel(int C, const float* __restrict__ gamma, const float* __restrict__ beta,
                                        const float* __restrict__ running_mean,
                                        const float* __restrict__ running_var, float eps,
                                        const float* __restrict__ conv_bias, float* __restrict__ coef) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const float mean = running_mean[c];
  const float invstd = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps)));
  const float scale = __fmul_rn(gamma[c], invstd);
  const float shift = __fsub_rn(beta[c], __fmul_rn(mean, scale));
  coef[8 * c + kScale] = scale;
  coef[8 * c + kShift] = conv_bias ? __fmaf_rn(conv_bias[c], scale, shift) : shift;
}

template <int VEC>
// x and y may be one buffer (conv2d_batchnorm_relu_eval): each element is
// read, then written, by the same thread, hence no __restrict__ on them.
__global__ void bn_apply_kernel(const float* x, float* y,
                                const float* __restrict__ coef, const float* __restrict__ add,
                                long long planes, int C, int plane_vecs, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const int lane = threadIdx.x & (G - 1);
  for (long long p = tid / G; p < planes; p += groups) {
    const int c = static_cast<int>(p % C);
    const float scale = coef[8 * c + kScale], shift = coef[8 * c + kShift];
    const float a = add ? add[p] : 0.0f;
    const long long base = p * plane_vecs * VEC;
    for (int i = lane; i < plane_vecs; i += G) {
      float v[VEC];
      load_vec<VEC>(x + base + static_cast<long long>(i) * VEC, v);
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const float pre = bn_pre(v[j], scale, shift);
        v[j] = (pre > 0.0f ? pre : 0.0f) + a;
      }
      store_vec<VEC>(y + base + static_cast<long long>(i) * VEC, v);
    }
  }
}

// ---- backward --------------------------------------------------------------------

template <int VEC>
__global__ void bn_bwd_reduce_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                     const float* __restrict__ gamma, const float* __restrict__ beta,
                                     const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                     float* __restrict__ dadd, int N, int C, int plane_vecs, int G,
                                     double* __restrict__ partials) {
  __shared__ double smem[32];
  const int c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const int lane = threadIdx.x & (G - 1), group = threadIdx.x / G, groups = blockDim.x / G;
  const long long HW = static_cast<long long>(plane_vecs) * VEC;
  const float mean = save_mean[c], invstd = save_invstd[c];
  const float scale = __fmul_rn(gamma[c], invstd);
  const float shift = __fsub_rn(beta[c], __fmul_rn(mean, scale));
  double sg = 0.0, sgx = 0.0;
  // n0 is uniform over the block, so every lane runs the same number of
  // iterations and the group shuffle below is safe.
  for (int n0 = s * groups; n0 < N; n0 += S * groups) {
    const int n = n0 + group;
    const bool active = n < N;
    float ag = 0.0f, agx = 0.0f, ad = 0.0f;
    if (active) {
      const long long base = (static_cast<long long>(n) * C + c) * HW;
      for (int i = lane; i < plane_vecs; i += G) {
        float xv[VEC], dv[VEC];
        load_vec<VEC>(x + base + static_cast<long long>(i) * VEC, xv);
        load_vec<VEC>(dy + base + static_cast<long long>(i) * VEC, dv);
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const float g = bn_pre(xv[j], scale, shift) > 0.0f ? dv[j] : 0.0f;
          ag += g;
          agx += g * (xv[j] - mean);
          ad += dv[j];
        }
      }
    }
    if (dadd) {  // uniform branch
      ad = group_sum(ad, G);
      if (active && lane == 0) dadd[static_cast<long long>(n) * C + c] = ad;
    }
    sg += ag;
    sgx += agx;
  }
  sg = block_sum(sg, smem);
  sgx = block_sum(sgx, smem);
  if (threadIdx.x == 0) {
    double* out = partials + 2 * (static_cast<long long>(s) * C + c);
    out[0] = sg;
    out[1] = sgx;
  }
}

__global__ void bn_bwd_finalize_kernel(const double* __restrict__ partials, int S, int C, long long M,
                                       const float* __restrict__ gamma, const float* __restrict__ beta,
                                       const float* __restrict__ save_mean,
                                       const float* __restrict__ save_invstd, float* __restrict__ dgamma,
                                       float* __restrict__ dbeta, float* __restrict__ dconv_bias,
                                       float* __restrict__ coef) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sg = 0.0, sgx = 0.0;
  for (int k = 0; k < S; ++k) {
    const double* p = partials + 2 * (static_cast<long long>(k) * C + c);
    sg += p[0];
    sgx += p[1];
  }
  const float mean = save_mean[c], invstd = save_invstd[c];
  sgx *= static_cast<double>(invstd);
  dbeta[c] = static_cast<float>(sg);
  dgamma[c] = static_cast<float>(sgx);
  if (dconv_bias) dconv_bias[c] = 0.0f;  // the batch statistics cancel the bias (ops.def)
  const float scale = __fmul_rn(gamma[c], invstd);
  float* k = coef + 8 * c;
  k[kScale] = scale;
  k[kShift] = __fsub_rn(beta[c], __fmul_rn(mean, scale));
  k[kMean] = mean;
  k[kInvstd] = invstd;
  k[kMeanG] = static_cast<float>(sg / static_cast<double>(M));
  k[kMeanGX] = static_cast<float>(sgx / static_cast<double>(M));
}

template <int VEC>
__global__ void bn_bwd_dx_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                 const float* __restrict__ coef, float* __restrict__ dx, long long planes,
                                 int C, int plane_vecs, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const int lane = threadIdx.x & (G - 1);
  for (long long p = tid / G; p < planes; p += groups) {
    const int c = static_cast<int>(p % C);
    const float4 k0 = *reinterpret_cast<const float4*>(coef + 8 * c);
    const float2 k1 = *reinterpret_cast<const float2*>(coef + 8 * c + 4);
    const float scale = k0.x, shift = k0.y, mean = k0.z, invstd = k0.w, mg = k1.x, mgx = k1.y;
    const long long base = p * plane_vecs * VEC;
    for (int i = lane; i < plane_vecs; i += G) {
      float xv[VEC], dv[VEC];
      load_vec<VEC>(x + base + static_cast<long long>(i) * VEC, xv);
      load_vec<VEC>(dy + base + static_cast<long long>(i) * VEC, dv);
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const float xhat = (xv[j] - mean) * invstd;
        const float g = bn_pre(xv[j], scale, shift) > 0.0f ? dv[j] : 0.0f;
        dv[j] = scale * (g - mg - xhat * mgx);
      }
      store_vec<VEC>(dx + base + static_cast<long long>(i) * VEC, dv);
    }
  }
}

// Slices per channel for the (C, S) reduction grids: enough blocks to fill
// the GPU, no more than there are planes to hand out, within the scratch.
int slices(const Ctx& ctx, int N, int C, int groups_per_block) {
  long long S = (static_cast<long long>(N) + groups_per_block - 1) / groups_per_block;
  S = std::min<long long>(S, (4LL * ctx.sm_count + C - 1) / C);
  S = std::min<long long>(S, kMaxPartials / C);
  return static_cast<int>(std::max<long long>(S, 1));
}

void check_shape(const char* op, int N, int C, int HW) {
  if (N <= 0 || C <= 0 || HW <= 0)
    throw Error(std::string("cuda ") + op + ": N, C and HW must be positive, got " + shape_str({N, C, HW}));
  if (C > kMaxChannels || C > kMaxPartials)
    throw Error(std::string("cuda ") + op + ": at most " + std::to_string(kMaxChannels) + " channels, got " +
                std::to_string(C));
}

}  // namespace

namespace ops {

void batchnorm_relu_forward(const Ctx& ctx, const float* x, float* y, const float* gamma,
                            const float* beta, const float* conv_bias, float* running_mean, float* running_var,
                            float* save_mean, float* save_invstd, const float* add, int N, int C,
                            int HW, bool training, float momentum, float eps) {
  const char* op = "batchnorm_relu_forward";
  check_shape(op, N, C, HW);
  const long long M = static_cast<long long>(N) * HW;
  if (training && M < 2)
    throw Error("cuda batchnorm_relu_forward: training needs more than one value per channel");
  const bool v4 = HW % 4 == 0 && aligned16(x) && aligned16(y);
  const int plane_vecs = v4 ? HW / 4 : HW;
  const int G = group_lanes(plane_vecs);
  const int cgrid = (C + kThreads - 1) / kThreads;
  if (training) {
    const int S = slices(ctx, N, C, kThreads / G);
    const dim3 grid(C, S);
    if (v4)
      bn_stats_kernel<4><<<grid, kThreads, 0, ctx.stream>>>(x, N, C, plane_vecs, G, ctx.partials);
    else
      bn_stats_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, N, C, plane_vecs, G, ctx.partials);
    check_launch(op);
    bn_finalize_train_kernel<<<cgrid, kThreads, 0, ctx.stream>>>(ctx.partials, S, C, x, HW, M, gamma, beta, conv_bias,
                                                                 running_mean, running_var, save_mean,
                                                                 save_invstd, momentum, eps, ctx.coef);
  } else {
    bn_finalize_eval_kernel<<<cgrid, kThreads, 0, ctx.stream>>>(C, gamma, beta, running_mean, running_var,
                                                                eps, conv_bias, ctx.coef);
  }
  check_launch(op);
  const long long planes = static_cast<long long>(N) * C;
  const int grid = grid_for(planes * G, kThreads, ctx, 8);
  if (v4)
    bn_apply_kernel<4><<<grid, kThreads, 0, ctx.stream>>>(x, y, ctx.coef, add, planes, C, plane_vecs, G);
  else
    bn_apply_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, y, ctx.coef, add, planes, C, plane_vecs, G);
  check_launch(op);
}

// The convolution into y, then the eval-mode BatchNorm + ReLU + add over y
// in place: the two ops' launches, so the same arithmetic as calling them
// (a fused cuDNN kernel, issue 9, would take this entry's place).
void conv2d_batchnorm_relu_eval(const Ctx& ctx, const float* x, const float* w, const float* b, const float* gamma,
                                const float* beta, const float* running_mean, const float* running_var,
                                const float* add, float* y, int N, int Cin, int H, int W, int Cout, int k, float eps) {
  conv2d_forward(ctx, x, w, b, y, N, Cin, H, W, Cout, k);
  // Eval mode reads the running statistics and writes neither them nor save_*.
  batchnorm_relu_forward(ctx, y, y, gamma, beta, nullptr, const_cast<float*>(running_mean),
                         const_cast<float*>(running_var),
                         nullptr, nullptr, add, N, Cout, H * W, /*training=*/false, 0.0f, eps);
}

void batchnorm_relu_backward(const Ctx& ctx, const float* x, const float* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd,
                             float* dx, float* dgamma, float* dbeta, float* dconv_bias, float* dadd, int N,
                             int C, int HW) {
  const char* op = "batchnorm_relu_backward";
  check_shape(op, N, C, HW);
  const long long M = static_cast<long long>(N) * HW;
  const bool v4 = HW % 4 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx);
  const int plane_vecs = v4 ? HW / 4 : HW;
  const int G = group_lanes(plane_vecs);
  const int S = slices(ctx, N, C, kThreads / G);
  const dim3 rgrid(C, S);
  if (v4)
    bn_bwd_reduce_kernel<4><<<rgrid, kThreads, 0, ctx.stream>>>(x, dy, gamma, beta, save_mean, save_invstd, dadd,
                                                                N, C, plane_vecs, G, ctx.partials);
  else
    bn_bwd_reduce_kernel<1><<<rgrid, kThreads, 0, ctx.stream>>>(x, dy, gamma, beta, save_mean, save_invstd, dadd,
                                                                N, C, plane_vecs, G, ctx.partials);
  check_launch(op);
  bn_bwd_finalize_kernel<<<(C + kThreads - 1) / kThreads, kThreads, 0, ctx.stream>>>(
      ctx.partials, S, C, M, gamma, beta, save_mean, save_invstd, dgamma, dbeta, dconv_bias, ctx.coef);
  check_launch(op);
  const long long planes = static_cast<long long>(N) * C;
  const int grid = grid_for(planes * G, kThreads, ctx, 8);
  if (v4)
    bn_bwd_dx_kernel<4><<<grid, kThreads, 0, ctx.stream>>>(x, dy, ctx.coef, dx, planes, C, plane_vecs, G);
  else
    bn_bwd_dx_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, dy, ctx.coef, dx, planes, C, plane_vecs, G);
  check_launch(op);
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
