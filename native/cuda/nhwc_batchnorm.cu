// BatchNorm + ReLU (+ the per-(n, c) add) and the channel reductions on
// bf16 channels-last activations (bf16.cuh), the twins of batchnorm.cu and
// channel.cu's sums for precision bf16. Semantics are backend.h's; the
// CPU reference (native/cpu/batchnorm.cpp) is the same maths in float32.
//
// One reduction kernel serves every sum over rows of an NHWC tensor:
//   grid (channel tiles, N * S): block (tile, n*S + j) owns the rows
//   hw in [j*rows, (j+1)*rows) of sample n and the tile's channels;
//   threads (tx, ty) take V channels each (tx) and every TY-th row (ty),
//   sum in float, and the block adds the TY row partials in a fixed order
//   into part[q][n*S + j][c] (float). One finalize kernel per reduction
//   then adds a channel's N*S partials in double, 128 lanes of a block each
//   taking every 128th slice and the block adding the lanes by a fixed tree
//   (fold_slices), and turns the sums into the op's results; per-sample
//   sums add a sample's S float partials in double. Every order is fixed,
//   so results are deterministic for a given shape. (One thread per channel
//   adding 512 partials took 60-110 us a call on an H200, a third of the
//   bf16 training step; a separate fold kernel fixed that at the cost of a
//   launch per reduction.)
// Quantities (q) per mode:
//   kSum:   sum x                                 (bias gradient, dadd)
//   kStats: sum (x - k), sum (x - k)^2, k = x[row 0, c] (shifted, so a
//           large mean does not cancel)
//   kBwd:   sum g, sum g * (x - mean), sum dy; g = dy where the ReLU passed
//
// Forward (training): reduce kStats -> finalize (save_mean/invstd, running
// statistics as PyTorch, scale/shift) -> apply: 3 launches. Eval: finalize
// from the running statistics -> apply. Backward: reduce kBwd (its scale,
// shift and mean computed from the saved statistics in the kernel) ->
// finalize (dgamma, dbeta, dx coefficients; dadd per sample) -> dx.
// The ReLU mask is computed with explicitly rounded multiply and add, the
// same two roundings as the float32 kernels and the CPU.
#include <string>

#include "bf16.cuh"
#include "conv.h"
#include "fold.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

enum Mode { kSum = 0, kStats = 1, kBwd = 2 };
constexpr int kQ[3] = {1, 2, 3};
constexpr int kBlock = 256;

// Coefficients per channel in ctx.coef, channel-major blocks of C floats:
// coef[k * C + c] for k in Coef (6 * C <= 8 * kMaxChannels).
enum Coef { kScale = 0, kShift = 1, kMean = 2, kInvstd = 3, kMeanG = 4, kMeanGX = 5 };

__device__ __forceinline__ float bn_pre(float x, float scale, float shift) {
  return __fadd_rn(__fmul_rn(x, scale), shift);
}

// The affine map of the saved statistics, as bwd_finalize_kernel and the
// forward compute it (the same roundings, so the same ReLU mask).
struct SavedStats {
  const float *gamma = nullptr, *beta = nullptr, *mean = nullptr, *invstd = nullptr;
};

template <int V, int MODE>
__global__ void nhwc_reduce_kernel(const bf16* __restrict__ x, const bf16* __restrict__ dy, SavedStats saved,
                                   int HW, int C, int S, int rows, long long slices, float* __restrict__ part) {
  constexpr int Q = kQ[MODE];
  __shared__ float sm[Q][kBlock * V];
  const int TX = blockDim.x, TY = blockDim.y;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int c = (blockIdx.x * TX + tx) * V;
  const bool on = c < C;
  const long long slice = blockIdx.y;
  const long long n = slice / S;
  const int j = static_cast<int>(slice % S);
  const int hw0 = j * rows, hw1 = min(HW, hw0 + rows);
  float acc[Q][V];
#pragma unroll
  for (int q = 0; q < Q; ++q)
#pragma unroll
    for (int v = 0; v < V; ++v) acc[q][v] = 0.0f;
  if (on) {
    float k[V], scale[V], shift[V], mean[V];
    if (MODE == kStats) load_bf16<V>(x + c, k);  // x[sample 0, row 0, c..]
    if (MODE == kBwd) {
      float gamma[V], beta[V], invstd[V];
      load_f32<V>(saved.gamma + c, gamma);
      load_f32<V>(saved.beta + c, beta);
      load_f32<V>(saved.mean + c, mean);
      load_f32<V>(saved.invstd + c, invstd);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        scale[v] = __fmul_rn(gamma[v], invstd[v]);
        shift[v] = __fsub_rn(beta[v], __fmul_rn(mean[v], scale[v]));
      }
    }
#pragma unroll 4
    for (int hw = hw0 + ty; hw < hw1; hw += TY) {
      const long long off = (n * HW + hw) * C + c;
      float xv[V];
      load_bf16<V>(x + off, xv);
      if (MODE == kSum) {
#pragma unroll
        for (int v = 0; v < V; ++v) acc[0][v] += xv[v];
      } else if (MODE == kStats) {
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float d = xv[v] - k[v];
          acc[0][v] += d;
          acc[1][v] += d * d;
        }
      } else {
        float dv[V];
        load_bf16<V>(dy + off, dv);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float g = bn_pre(xv[v], scale[v], shift[v]) > 0.0f ? dv[v] : 0.0f;
          acc[0][v] += g;
          acc[1][v] += g * (xv[v] - mean[v]);
          acc[2][v] += dv[v];
        }
      }
    }
  }
#pragma unroll
  for (int q = 0; q < Q; ++q)
#pragma unroll
    for (int v = 0; v < V; ++v) sm[q][(ty * TX + tx) * V + v] = acc[q][v];
  __syncthreads();
  // The block's Q * TX * V sums, each adding its TY row partials in order,
  // spread over all its threads (the row-0 threads alone took 8 x 512 serial
  // shared-memory adds per block at 64 channels, longer than the loads).
  const int sums = Q * TX * V;
  for (int o = ty * TX + tx; o < sums; o += TX * TY) {
    const int q = o / (TX * V), col = o % (TX * V);  // col = thread column * V + vector lane
    const int cc = blockIdx.x * TX * V + col;
    if (cc < C) {
      float s = 0.0f;
      for (int r = 0; r < TY; ++r) s += sm[q][r * TX * V + col];
      part[(static_cast<long long>(q) * slices + slice) * C + cc] = s;
    }
  }
}

// A reduction's launch shape, its partials and their folded group sums.
struct Reduction {
  dim3 grid, block;
  int S = 1, rows = 1, V = 1;
  long long slices = 0;
  float* part = nullptr;
};

// N "samples" of HW rows each (a per-sample sum needs the true N and HW; a
// sum over all rows passes N = 1, HW = rows, so that slices may cross
// samples).
Reduction plan_reduction(const Ctx& ctx, int N, int HW, int C, int Q, int V, const char* op) {
  Reduction r;
  r.V = V;
  const int cvecs = (C + V - 1) / V;
  const int TX = cvecs < 32 ? cvecs : 32;
  const int TY = kBlock / TX;
  r.block = dim3(TX, TY);
  const int tiles = (cvecs + TX - 1) / TX;
  // Split a sample's rows into S slices until the grid has 8 blocks an SM
  // (each thread's loads are few: the bytes in flight come from many threads).
  r.rows = HW;
  while (static_cast<long long>(N) * ((HW + r.rows - 1) / r.rows) * tiles < 8LL * ctx.sm_count && r.rows > TY)
    r.rows = (r.rows + 1) / 2;
  r.S = (HW + r.rows - 1) / r.rows;
  r.slices = static_cast<long long>(N) * r.S;
  if (r.slices > 0x7fffffffLL || tiles > 0x7fffffff)
    throw Error(std::string("cuda ") + op + ": tensor too large " + shape_str({N, C, HW}));
  r.grid = dim3(tiles, static_cast<unsigned>(r.slices));
  if (r.slices > 65535) {
    // gridDim.y is limited: fold whole samples into longer slices instead.
    throw Error(std::string("cuda ") + op + ": batch too large for the channels-last reduction (" +
                std::to_string(r.slices) + " slices > 65535)");
  }
  r.part = static_cast<float*>(ctx.scratch->get(sizeof(float) * static_cast<size_t>(Q) * r.slices * C, ctx.stream, op));
  return r;
}

// per_sample: slices never cross samples, so that sum_samples_kernel can add
// a sample's (plane sums, dadd); else the rows are one range (fewer, fuller
// slices where HW is small). The caller's finalize kernel adds the partials.
template <int MODE>
Reduction reduce(const Ctx& ctx, const bf16* x, const bf16* dy, const SavedStats& saved, int N, int HW, int C,
                 const char* op, bool per_sample) {
  const int V = nhwc_vec(C, {x, dy});
  const long long M = static_cast<long long>(N) * HW;
  // Rows are counted in int: more than 2^31 of them are sliced per sample.
  const bool by_sample = per_sample || M > 0x7fffffffLL;
  Reduction r = by_sample ? plan_reduction(ctx, N, HW, C, kQ[MODE], V, op)
                          : plan_reduction(ctx, 1, static_cast<int>(M), C, kQ[MODE], V, op);
  const int rHW = by_sample ? HW : static_cast<int>(M);
  if (V == 8)
    nhwc_reduce_kernel<8, MODE><<<r.grid, r.block, 0, ctx.stream>>>(x, dy, saved, rHW, C, r.S, r.rows, r.slices,
                                                                    r.part);
  else
    nhwc_reduce_kernel<1, MODE><<<r.grid, r.block, 0, ctx.stream>>>(x, dy, saved, rHW, C, r.S, r.rows, r.slices,
                                                                    r.part);
  check_launch(op);
  return r;
}

// out[c] = the sum over all rows (kSum's partials).
__global__ void __launch_bounds__(kFoldChannels * kFoldLanes) sum_channels_kernel(const float* __restrict__ part, long long slices, int C, float* __restrict__ out) {
  __shared__ FoldShared<1> sm;
  double sum[1];
  fold_slices<1>(part, slices, C, sm, sum);
  const int c = fold_channel();
  if (threadIdx.y == 0 && c < C) out[c] = static_cast<float>(sum[0]);
}

// out[n * C + c] = sum over the S slices of sample n of part[q][.][c].
__global__ void sum_samples_kernel(const float* __restrict__ part, long long slices, int N, int S, int C, int q,
                                   float* __restrict__ out) {
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long long>(N) * C) return;
  const long long n = i / C;
  const int c = static_cast<int>(i % C);
  const float* p = part + (static_cast<long long>(q) * slices + n * S) * C + c;
  double s = 0.0;
  for (int j = 0; j < S; ++j) s += p[static_cast<long long>(j) * C];
  out[i] = static_cast<float>(s);
}

__global__ void __launch_bounds__(kFoldChannels * kFoldLanes) stats_finalize_kernel(const float* __restrict__ part, long long slices, int C,
                                      const bf16* __restrict__ x, long long M, const float* __restrict__ gamma,
                                      const float* __restrict__ beta, const float* __restrict__ conv_bias,
                                      float* __restrict__ running_mean, float* __restrict__ running_var,
                                      float* __restrict__ save_mean, float* __restrict__ save_invstd,
                                      float momentum, float eps, float* __restrict__ coef) {
  __shared__ FoldShared<2> sm;
  double sum[2];
  fold_slices<2>(part, slices, C, sm, sum);
  const int c = fold_channel();
  if (threadIdx.y != 0 || c >= C) return;
  const double s1 = sum[0], s2 = sum[1];
  const double Md = static_cast<double>(M);
  const double md = s1 / Md;
  double var = s2 / Md - md * md;
  if (var < 0.0) var = 0.0;
  const double mu = static_cast<double>(__bfloat162float(x[c])) + md;
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
  coef[kScale * C + c] = scale;
  coef[kShift * C + c] = __fsub_rn(beta[c], __fmul_rn(mean, scale));
}

// Eval mode's coefficients from the running statistics. conv_bias
// (nullable): a bias the input still lacks, folded into the shift
// ((v + b) * scale + shift = v * scale + (b * scale + shift)), so that
// conv2d_batchnorm_relu_eval skips the bias pass over its output.
struct EvalStats {
  const float *gamma, *beta, *running_mean, *running_var, *conv_bias;
  float eps;
};

__device__ __forceinline__ void eval_coef(const EvalStats& p, int c, float& scale, float& shift) {
  const float mean = p.running_mean[c];
  const float invstd =
      static_cast<float>(1.0 / sqrt(static_cast<double>(p.running_var[c]) + static_cast<double>(p.eps)));
  scale = __fmul_rn(p.gamma[c], invstd);
  const float s = __fsub_rn(p.beta[c], __fmul_rn(mean, scale));
  shift = p.conv_bias ? __fmaf_rn(p.conv_bias[c], scale, s) : s;
}

__global__ void eval_finalize_kernel(int C, EvalStats p, float* __restrict__ coef) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  eval_coef(p, c, coef[kScale * C + c], coef[kShift * C + c]);
}

// y = relu(x * scale + shift) + add[n, c] for V channels c.. of row `row`
// of sample n (add nullable).
template <int V>
__device__ __forceinline__ void bn_apply_vec(const bf16* x, bf16* y, long long row, long long n, int c, int C,
                                             const float (&scale)[V], const float (&shift)[V],
                                             const float* __restrict__ add) {
  float xv[V], a[V];
  load_bf16<V>(x + row * C + c, xv);
  if (add) {
    load_f32<V>(add + n * C + c, a);
  } else {
#pragma unroll
    for (int v = 0; v < V; ++v) a[v] = 0.0f;
  }
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const float pre = bn_pre(xv[v], scale[v], shift[v]);
    xv[v] = (pre > 0.0f ? pre : 0.0f) + a[v];
  }
  store_bf16<V>(y + row * C + c, xv);
}

// The sample of a row: in 32 bits where the tensor's rows fit (small), as
// a 64-bit division costs as much as the element's other work.
__device__ __forceinline__ long long sample_of(long long row, int HW, bool small) {
  return small ? static_cast<long long>(static_cast<unsigned>(row) / static_cast<unsigned>(HW)) : row / HW;
}

// The element passes below walk the rows of an (M, C) tensor with a grid
// whose stride (gridDim * blockDim) is a multiple of a row's C / V vectors:
// each thread keeps its V channels c (and their coefficients, in
// registers) and steps rows by a constant, with no division per element.
// Launchers use them where C / V divides kThreads (every UNet width), the
// generic kernels (one vector a step, coefficients loaded each time)
// elsewhere.
struct RowWalk {
  long long row, step;
  int c;
};
template <int V>
__device__ __forceinline__ RowWalk row_walk(int C) {
  const int cvecs = C / V;
  const long long first = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  return RowWalk{first / cvecs, stride / cvecs, static_cast<int>(first % cvecs) * V};
}

// y = relu(x * scale + shift) + add[n, c]; one thread per V channels of a row.
template <int V>
// x and y may be one buffer (conv2d_batchnorm_relu_eval): each element is
// read, then written, by the same thread, hence no __restrict__ on them.
__global__ void bn_apply_kernel(const bf16* x, bf16* y, const float* __restrict__ coef,
                                const float* __restrict__ add, long long vecs, int HW, int C) {
  const int cvecs = C / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const long long row = i / cvecs;
    const int c = static_cast<int>(i % cvecs) * V;
    float scale[V], shift[V];
    load_f32<V>(coef + kScale * C + c, scale);
    load_f32<V>(coef + kShift * C + c, shift);
    bn_apply_vec<V>(x, y, row, row / HW, c, C, scale, shift, add);
  }
}

// bn_apply_kernel by row walk (x and y may be one buffer). EVAL: the
// coefficients come from the running statistics (eval_coef, the bits of
// eval_finalize), so eval mode is one launch; else from ctx.coef.
template <int V, bool EVAL>
__global__ void bn_apply_rows_kernel(const bf16* x, bf16* y, const float* __restrict__ coef, EvalStats p,
                                     const float* __restrict__ add, long long M, int HW, int C, bool small) {
  const RowWalk w = row_walk<V>(C);
  float scale[V], shift[V];
  if (EVAL) {
#pragma unroll
    for (int v = 0; v < V; ++v) eval_coef(p, w.c + v, scale[v], shift[v]);
  } else {
    load_f32<V>(coef + kScale * C + w.c, scale);
    load_f32<V>(coef + kShift * C + w.c, shift);
  }
  for (long long row = w.row; row < M; row += w.step)
    bn_apply_vec<V>(x, y, row, add ? sample_of(row, HW, small) : 0, w.c, C, scale, shift, add);
}

__global__ void __launch_bounds__(kFoldChannels * kFoldLanes) bwd_finalize_kernel(const float* __restrict__ part, long long slices, int C, long long M,
                                    const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ save_mean, const float* __restrict__ save_invstd,
                                    float* __restrict__ dgamma, float* __restrict__ dbeta,
                                    float* __restrict__ dconv_bias, float* __restrict__ coef) {
  __shared__ FoldShared<2> sm;
  double sum[2];
  fold_slices<2>(part, slices, C, sm, sum);  // sum dy, kBwd's third, is only needed per sample
  const int c = fold_channel();
  if (threadIdx.y != 0 || c >= C) return;
  const double sg = sum[0];
  double sgx = sum[1];
  const float mean = save_mean[c], invstd = save_invstd[c];
  sgx *= static_cast<double>(invstd);
  dbeta[c] = static_cast<float>(sg);
  dgamma[c] = static_cast<float>(sgx);
  if (dconv_bias) dconv_bias[c] = 0.0f;  // the batch statistics cancel the bias (ops.def)
  const float scale = __fmul_rn(gamma[c], invstd);
  coef[kScale * C + c] = scale;
  coef[kShift * C + c] = __fsub_rn(beta[c], __fmul_rn(mean, scale));
  coef[kMean * C + c] = mean;
  coef[kInvstd * C + c] = invstd;
  coef[kMeanG * C + c] = static_cast<float>(sg / static_cast<double>(M));
  coef[kMeanGX * C + c] = static_cast<float>(sgx / static_cast<double>(M));
}

// dx = scale * (g - mean(g) - xhat * mean(g * xhat)) for V channels c.. at element offset off.
template <int V>
__device__ __forceinline__ void bn_dx_vec(const bf16* __restrict__ x, const bf16* __restrict__ dy,
                                          bf16* __restrict__ dx, long long off, const float (&k)[6][V]) {
  float xv[V], dv[V];
  load_bf16<V>(x + off, xv);
  load_bf16<V>(dy + off, dv);
#pragma unroll
  for (int v = 0; v < V; ++v) {
    const float xhat = (xv[v] - k[kMean][v]) * k[kInvstd][v];
    const float g = bn_pre(xv[v], k[kScale][v], k[kShift][v]) > 0.0f ? dv[v] : 0.0f;
    dv[v] = k[kScale][v] * (g - k[kMeanG][v] - xhat * k[kMeanGX][v]);
  }
  store_bf16<V>(dx + off, dv);
}

template <int V>
__device__ __forceinline__ void load_dx_coef(const float* __restrict__ coef, int C, int c, float (&k)[6][V]) {
#pragma unroll
  for (int q = 0; q < 6; ++q) load_f32<V>(coef + q * C + c, k[q]);
}

template <int V>
__global__ void bn_bwd_dx_kernel(const bf16* __restrict__ x, const bf16* __restrict__ dy,
                                 const float* __restrict__ coef, bf16* __restrict__ dx, long long vecs, int C) {
  const int cvecs = C / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    float k[6][V];
    load_dx_coef<V>(coef, C, c, k);
    bn_dx_vec<V>(x, dy, dx, (i / cvecs) * C + c, k);
  }
}

// bn_bwd_dx_kernel by row walk: the six coefficients of its channels loaded once.
template <int V>
__global__ void bn_bwd_dx_rows_kernel(const bf16* __restrict__ x, const bf16* __restrict__ dy,
                                      const float* __restrict__ coef, bf16* __restrict__ dx, long long M, int C) {
  const RowWalk w = row_walk<V>(C);
  float k[6][V];
  load_dx_coef<V>(coef, C, w.c, k);
  for (long long row = w.row; row < M; row += w.step) bn_dx_vec<V>(x, dy, dx, row * C + w.c, k);
}

void check_shape(const char* op, int N, int C, int HW) {
  if (N <= 0 || C <= 0 || HW <= 0)
    throw Error(std::string("cuda ") + op + ": N, C and HW must be positive, got " + shape_str({N, C, HW}));
  if (C > kMaxChannels)
    throw Error(std::string("cuda ") + op + ": at most " + std::to_string(kMaxChannels) + " channels, got " +
                std::to_string(C));
}

int cgrid(int C) { return (C + kThreads - 1) / kThreads; }

// Whether the row-walk kernels apply: a row's C / V vectors divide the block
// (then the grid's stride, grid * kThreads, is a multiple of them).
bool row_walk_applies(int C, int V) { return kThreads % (C / V) == 0; }

// y = relu(x * scale + shift) + add with the coefficients in ctx.coef (x and y may be one buffer).
void bn_apply(const Ctx& ctx, const bf16* x, bf16* y, const float* add, int N, int C, int HW, const char* op) {
  const long long M = static_cast<long long>(N) * HW;
  const int V = nhwc_vec(C, {x, y});
  const long long vecs = M * C / V;
  const int grid = grid_for(vecs, kThreads, ctx, 16);
  const bool small = M <= 0x7fffffffLL;
  if (row_walk_applies(C, V)) {
    if (V == 8)
      bn_apply_rows_kernel<8, false><<<grid, kThreads, 0, ctx.stream>>>(x, y, ctx.coef, EvalStats{}, add, M, HW, C,
                                                                        small);
    else
      bn_apply_rows_kernel<1, false><<<grid, kThreads, 0, ctx.stream>>>(x, y, ctx.coef, EvalStats{}, add, M, HW, C,
                                                                        small);
  } else if (V == 8) {
    bn_apply_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(x, y, ctx.coef, add, vecs, HW, C);
  } else {
    bn_apply_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, y, ctx.coef, add, vecs, HW, C);
  }
  check_launch(op);
}

// Eval mode from the running statistics: one launch (bn_apply_rows_kernel
// computing the coefficients) where the row walk applies, else
// eval_finalize then bn_apply. Writes no coefficients to ctx.coef in the first case.
void bn_apply_eval(const Ctx& ctx, const bf16* x, bf16* y, const EvalStats& p, const float* add, int N, int C, int HW,
                   const char* op) {
  const long long M = static_cast<long long>(N) * HW;
  const int V = nhwc_vec(C, {x, y});
  if (!row_walk_applies(C, V)) {
    eval_finalize_kernel<<<cgrid(C), kThreads, 0, ctx.stream>>>(C, p, ctx.coef);
    check_launch(op);
    bn_apply(ctx, x, y, add, N, C, HW, op);
    return;
  }
  const int grid = grid_for(M * (C / V), kThreads, ctx, 16);
  const bool small = M <= 0x7fffffffLL;
  if (V == 8)
    bn_apply_rows_kernel<8, true><<<grid, kThreads, 0, ctx.stream>>>(x, y, nullptr, p, add, M, HW, C, small);
  else
    bn_apply_rows_kernel<1, true><<<grid, kThreads, 0, ctx.stream>>>(x, y, nullptr, p, add, M, HW, C, small);
  check_launch(op);
}

}  // namespace

namespace ops {
namespace nhwc {

void channel_sum(const Ctx& ctx, const bf16* x, float* out, int N, int C, int HW, const char* op) {
  check_shape(op, N, C, HW);
  const Reduction r = reduce<kSum>(ctx, x, nullptr, SavedStats{}, N, HW, C, op, /*per_sample=*/false);
  sum_channels_kernel<<<fold_grid(C), fold_block(), 0, ctx.stream>>>(r.part, r.slices, C, out);
  check_launch(op);
}

void plane_sum(const Ctx& ctx, const bf16* x, float* out, int N, int C, int HW, const char* op) {
  check_shape(op, N, C, HW);
  const Reduction r = reduce<kSum>(ctx, x, nullptr, SavedStats{}, N, HW, C, op, /*per_sample=*/true);
  const long long nc = static_cast<long long>(N) * C;
  sum_samples_kernel<<<static_cast<unsigned>((nc + kThreads - 1) / kThreads), kThreads, 0, ctx.stream>>>(
      r.part, r.slices, N, r.S, C, 0, out);
  check_launch(op);
}

void batchnorm_relu_forward(const Ctx& ctx, const bf16* x, bf16* y, const float* gamma, const float* beta,
                            const float* conv_bias, float* running_mean, float* running_var, float* save_mean,
                            float* save_invstd, const float* add, int N, int C, int HW, bool training, float momentum,
                            float eps) {
  const char* op = "batchnorm_relu_forward";
  check_shape(op, N, C, HW);
  const long long M = static_cast<long long>(N) * HW;
  if (training && M < 2) throw Error("cuda batchnorm_relu_forward: training needs more than one value per channel");
  if (!training) {
    bn_apply_eval(ctx, x, y, EvalStats{gamma, beta, running_mean, running_var, conv_bias, eps}, add, N, C, HW, op);
    return;
  }
  const Reduction r = reduce<kStats>(ctx, x, nullptr, SavedStats{}, N, HW, C, op, /*per_sample=*/false);
  stats_finalize_kernel<<<fold_grid(C), fold_block(), 0, ctx.stream>>>(r.part, r.slices, C, x, M, gamma, beta,
                                                                     conv_bias, running_mean, running_var, save_mean,
                                                                     save_invstd, momentum, eps, ctx.coef);
  check_launch(op);
  bn_apply(ctx, x, y, add, N, C, HW, op);
}

// As the float32 twin (batchnorm.cu): the convolution into y, then the
// eval-mode BatchNorm + ReLU + add over y in place, with the convolution's
// bias folded into the BatchNorm's shift instead of its own pass over y
// (one rounding fewer than the two ops; a pass of y's size less). With
// DDPM_CUDNN_FUSED=1 the coefficients come first, so that the whole op may
// run as one cuDNN graph (conv2d_forward_epilogue) reading them; else the
// pass after the convolution computes them itself (bn_apply_eval).
void conv2d_batchnorm_relu_eval(const Ctx& ctx, const bf16* x, const float* w, const float* b, const float* gamma,
                                const float* beta, const float* running_mean, const float* running_var,
                                const float* add, bf16* y, int N, int Cin, int H, int W, int Cout, int k, float eps) {
  const char* op = "batchnorm_relu_forward";
  const int HW = H * W;
  check_shape(op, N, Cout, HW);
  const EvalStats stats{gamma, beta, running_mean, running_var, b, eps};
  // The per-sample add stays out of the fused graph: on an H200 (cuDNN's
  // runtime-compiled engines, a [N, K, 1, 1] operand) the fused results were
  // wrong, by up to 45% of the largest value, and some candidates' by 1e36.
  if (!ctx.conv->fused_epilogues() || add) {
    conv2d_forward_epilogue(ctx, x, w, y, N, Cin, H, W, Cout, k, ConvEpilogue{}, ConvPointers{},
                            [&](bf16* yy) { bn_apply_eval(ctx, yy, yy, stats, add, N, Cout, HW, op); });
    return;
  }
  eval_finalize_kernel<<<cgrid(Cout), kThreads, 0, ctx.stream>>>(Cout, stats, ctx.coef);
  check_launch(op);
  ConvEpilogue epilogue;
  epilogue.scale = epilogue.shift = epilogue.relu = true;
  ConvPointers tensors;
  tensors.scale = ctx.coef + kScale * Cout;
  tensors.shift = ctx.coef + kShift * Cout;
  conv2d_forward_epilogue(ctx, x, w, y, N, Cin, H, W, Cout, k, epilogue, tensors,
                          [&](bf16* yy) { bn_apply(ctx, yy, yy, nullptr, N, Cout, HW, op); });
}

void batchnorm_relu_backward(const Ctx& ctx, const bf16* x, const bf16* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd, bf16* dx,
                             float* dgamma, float* dbeta, float* dconv_bias, float* dadd, int N, int C, int HW) {
  const char* op = "batchnorm_relu_backward";
  check_shape(op, N, C, HW);
  const long long M = static_cast<long long>(N) * HW;
  SavedStats saved;
  saved.gamma = gamma, saved.beta = beta, saved.mean = save_mean, saved.invstd = save_invstd;
  const Reduction r = reduce<kBwd>(ctx, x, dy, saved, N, HW, C, op, /*per_sample=*/dadd != nullptr);
  bwd_finalize_kernel<<<fold_grid(C), fold_block(), 0, ctx.stream>>>(r.part, r.slices, C, M, gamma, beta, save_mean,
                                                             save_invstd, dgamma, dbeta, dconv_bias, ctx.coef);
  check_launch(op);
  if (dadd) {
    const long long nc = static_cast<long long>(N) * C;
    sum_samples_kernel<<<static_cast<unsigned>((nc + kThreads - 1) / kThreads), kThreads, 0, ctx.stream>>>(
        r.part, r.slices, N, r.S, C, 2, dadd);
    check_launch(op);
  }
  const int V = nhwc_vec(C, {x, dy, dx});
  const long long vecs = M * C / V;
  const int grid = grid_for(vecs, kThreads, ctx, 16);
  if (row_walk_applies(C, V)) {
    if (V == 8)
      bn_bwd_dx_rows_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(x, dy, ctx.coef, dx, M, C);
    else
      bn_bwd_dx_rows_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, dy, ctx.coef, dx, M, C);
  } else if (V == 8) {
    bn_bwd_dx_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(x, dy, ctx.coef, dx, vecs, C);
  } else {
    bn_bwd_dx_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, dy, ctx.coef, dx, vecs, C);
  }
  check_launch(op);
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
