// The UNet's glue ops on bf16 channels-last activations (bf16.cuh), twins of
// pool_concat.cu and channel.cu's adds for precision bf16: 2x2 max-pool
// (with the per-(n, c) add), pad + concat, add_channel and the conv bias add.
// One thread per V channels of one output row; the per-(n, c) sums (dadd)
// are nhwc_batchnorm.cu's plane_sum.
#include <string>

#include "bf16.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

// y[n, ho, wo, :] = max over the 2x2 window + add[n, :]
template <int V>
__global__ void maxpool_fwd_kernel(const bf16* __restrict__ x, bf16* __restrict__ y, const float* __restrict__ add,
                                   long long vecs, int H, int W, int Ho, int Wo, int C) {
  const int cvecs = C / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    long long t = i / cvecs;
    const int wo = static_cast<int>(t % Wo);
    t /= Wo;
    const int ho = static_cast<int>(t % Ho);
    const long long n = t / Ho;
    const bf16* r0 = x + ((n * H + 2 * ho) * W + 2 * wo) * C + c;
    const bf16* r1 = r0 + static_cast<long long>(W) * C;
    float m[V], v[V];
    load_bf16<V>(r0, m);
    load_bf16<V>(r0 + C, v);
#pragma unroll
    for (int k = 0; k < V; ++k) m[k] = v[k] > m[k] ? v[k] : m[k];
    load_bf16<V>(r1, v);
#pragma unroll
    for (int k = 0; k < V; ++k) m[k] = v[k] > m[k] ? v[k] : m[k];
    load_bf16<V>(r1 + C, v);
#pragma unroll
    for (int k = 0; k < V; ++k) m[k] = v[k] > m[k] ? v[k] : m[k];
    if (add) {
      load_f32<V>(add + n * C + c, v);
#pragma unroll
      for (int k = 0; k < V; ++k) m[k] += v[k];
    }
    store_bf16<V>(y + i * V, m);
  }
}

// dx[window max] += dy (the first max in row-major window order wins ties).
// Windows are disjoint, so each dx element has one writer.
template <int V>
__global__ void maxpool_bwd_kernel(const bf16* __restrict__ x, const bf16* __restrict__ dy, bf16* __restrict__ dx,
                                   long long vecs, int H, int W, int Ho, int Wo, int C) {
  const int cvecs = C / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    long long t = i / cvecs;
    const int wo = static_cast<int>(t % Wo);
    t /= Wo;
    const int ho = static_cast<int>(t % Ho);
    const long long n = t / Ho;
    long long off[4];
    off[0] = ((n * H + 2 * ho) * W + 2 * wo) * C + c;
    off[1] = off[0] + C;
    off[2] = off[0] + static_cast<long long>(W) * C;
    off[3] = off[2] + C;
    float m[V], v[V], g[V];
    int best[V];
    load_bf16<V>(x + off[0], m);
#pragma unroll
    for (int k = 0; k < V; ++k) best[k] = 0;
#pragma unroll
    for (int p = 1; p < 4; ++p) {
      load_bf16<V>(x + off[p], v);
#pragma unroll
      for (int k = 0; k < V; ++k)
        if (v[k] > m[k]) {
          m[k] = v[k];
          best[k] = p;
        }
    }
    load_bf16<V>(dy + i * V, g);
#pragma unroll
    for (int p = 0; p < 4; ++p) {
      bool any = false;
#pragma unroll
      for (int k = 0; k < V; ++k) any |= best[k] == p;
      if (!any) continue;
      load_bf16<V>(dx + off[p], v);
#pragma unroll
      for (int k = 0; k < V; ++k)
        if (best[k] == p) v[k] += g[k];
      store_bf16<V>(dx + off[p], v);
    }
  }
}

// out (N, Hs, Ws, Cu + Cs) = cat([pad(up), skip]) along channels.
template <int V>
__global__ void pad_concat_fwd_kernel(const bf16* __restrict__ up, const bf16* __restrict__ skip,
                                      const float* __restrict__ up_bias, bf16* __restrict__ out, long long vecs,
                                      int Cu, int Hu, int Wu, int Cs, int Hs, int Ws, int top, int left) {
  const int Co = Cu + Cs, cvecs = Co / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    long long t = i / cvecs;
    const int w = static_cast<int>(t % Ws);
    t /= Ws;
    const int h = static_cast<int>(t % Hs);
    const long long n = t / Hs;
    float v[V];
    if (c < Cu) {
      const int hu = h - top, wu = w - left;
      if (hu >= 0 && hu < Hu && wu >= 0 && wu < Wu) {
        load_bf16<V>(up + ((n * Hu + hu) * Wu + wu) * Cu + c, v);
        if (up_bias) {  // added before the one rounding of out
          float b[V];
          load_f32<V>(up_bias + c, b);
#pragma unroll
          for (int k = 0; k < V; ++k) v[k] += b[k];
        }
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) v[k] = 0.0f;
      }
    } else {
      load_bf16<V>(skip + ((n * Hs + h) * Ws + w) * Cs + (c - Cu), v);
    }
    store_bf16<V>(out + i * V, v);
  }
}

// dup (N, Hu, Wu, Cu) = dout's window of the first Cu channels.
template <int V>
__global__ void pad_concat_bwd_up_kernel(const bf16* __restrict__ dout, bf16* __restrict__ dup, long long vecs, int Cu,
                                         int Hu, int Wu, int Co, int Hs, int Ws, int top, int left) {
  const int cvecs = Cu / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    long long t = i / cvecs;
    const int wu = static_cast<int>(t % Wu);
    t /= Wu;
    const int hu = static_cast<int>(t % Hu);
    const long long n = t / Hu;
    float v[V];
    load_bf16<V>(dout + ((n * Hs + hu + top) * Ws + wu + left) * Co + c, v);
    store_bf16<V>(dup + i * V, v);
  }
}

// dskip (N, Hs, Ws, Cs) = dout's last Cs channels.
template <int V>
__global__ void pad_concat_bwd_skip_kernel(const bf16* __restrict__ dout, bf16* __restrict__ dskip, long long vecs,
                                           int Cu, int Cs) {
  const int cvecs = Cs / V, Co = Cu + Cs;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    const long long row = i / cvecs;
    float v[V];
    load_bf16<V>(dout + row * Co + Cu + c, v);
    store_bf16<V>(dskip + i * V, v);
  }
}

// y[row, c] = x[row, c] + a[n * C + c] (PER_SAMPLE) or + a[c]; x may be y.
template <int V, bool PER_SAMPLE>
__global__ void row_add_kernel(const bf16* x, const float* __restrict__ a, bf16* y, long long vecs, int HW, int C) {
  const int cvecs = C / V;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += stride) {
    const int c = static_cast<int>(i % cvecs) * V;
    const long long row = i / cvecs;
    float v[V], b[V];
    load_bf16<V>(x + i * V, v);
    load_f32<V>(a + (PER_SAMPLE ? (row / HW) * C : 0) + c, b);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] += b[k];
    store_bf16<V>(y + i * V, v);
  }
}

void need_positive(const char* op, std::initializer_list<long long> dims) {
  for (long long d : dims)
    if (d <= 0) throw Error(std::string("cuda ") + op + ": every dimension must be positive, got " + shape_str(dims));
}

template <bool PER_SAMPLE>
void row_add(const Ctx& ctx, const bf16* x, const float* a, bf16* y, int N, int C, long long HW, const char* op) {
  need_positive(op, {N, C, HW});
  const int V = nhwc_vec(C, {x, y});
  const long long vecs = static_cast<long long>(N) * HW * C / V;
  const int grid = grid_for(vecs, kThreads, ctx, 16);
  if (V == 8)
    row_add_kernel<8, PER_SAMPLE><<<grid, kThreads, 0, ctx.stream>>>(x, a, y, vecs, static_cast<int>(HW), C);
  else
    row_add_kernel<1, PER_SAMPLE><<<grid, kThreads, 0, ctx.stream>>>(x, a, y, vecs, static_cast<int>(HW), C);
  check_launch(op);
}

}  // namespace

namespace ops {
namespace nhwc {

void add_bias(const Ctx& ctx, bf16* y, const float* b, int N, int C, long long HW, const char* op) {
  if (b) row_add<false>(ctx, y, b, y, N, C, HW, op);
}

void add_channel_forward(const Ctx& ctx, const bf16* x, const float* add, bf16* y, int N, int C, int HW) {
  row_add<true>(ctx, x, add, y, N, C, HW, "add_channel_forward");
}

void add_channel_backward(const Ctx& ctx, const bf16* dy, float* dadd, int N, int C, int HW) {
  plane_sum(ctx, dy, dadd, N, C, HW, "add_channel_backward");
}

void maxpool2x2_forward(const Ctx& ctx, const bf16* x, bf16* y, const float* add, int N, int C, int H, int W) {
  const char* op = "maxpool2x2_forward";
  need_positive(op, {N, C, H / 2, W / 2});
  const int Ho = H / 2, Wo = W / 2;
  const int V = nhwc_vec(C, {x, y});
  const long long vecs = static_cast<long long>(N) * Ho * Wo * C / V;
  const int grid = grid_for(vecs, kThreads, ctx, 16);
  if (V == 8)
    maxpool_fwd_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(x, y, add, vecs, H, W, Ho, Wo, C);
  else
    maxpool_fwd_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, y, add, vecs, H, W, Ho, Wo, C);
  check_launch(op);
}

void maxpool2x2_backward(const Ctx& ctx, const bf16* x, const bf16* dy, bf16* dx, float* dadd, int N, int C, int H,
                         int W) {
  const char* op = "maxpool2x2_backward";
  need_positive(op, {N, C, H / 2, W / 2});
  const int Ho = H / 2, Wo = W / 2;
  const int V = nhwc_vec(C, {x, dy, dx});
  const long long vecs = static_cast<long long>(N) * Ho * Wo * C / V;
  const int grid = grid_for(vecs, kThreads, ctx, 16);
  if (V == 8)
    maxpool_bwd_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(x, dy, dx, vecs, H, W, Ho, Wo, C);
  else
    maxpool_bwd_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, dy, dx, vecs, H, W, Ho, Wo, C);
  check_launch(op);
  if (dadd) plane_sum(ctx, dy, dadd, N, C, Ho * Wo, op);
}

void pad_concat_forward(const Ctx& ctx, const bf16* up, const bf16* skip, const float* up_bias, bf16* out, int N,
                        int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  const char* op = "pad_concat_forward";
  need_positive(op, {N, Cu, Hu, Wu, Cs, Hs, Ws});
  if (Hu > Hs || Wu > Ws)
    throw Error("cuda pad_concat_forward: up " + shape_str({Hu, Wu}) + " is larger than skip " + shape_str({Hs, Ws}));
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const int V = (nhwc_vec(Cu, {up, out}) == 8 && nhwc_vec(Cs, {skip}) == 8) ? 8 : 1;
  const long long vecs = static_cast<long long>(N) * Hs * Ws * (Cu + Cs) / V;
  const int grid = grid_for(vecs, kThreads, ctx, 16);
  if (V == 8)
    pad_concat_fwd_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(up, skip, up_bias, out, vecs, Cu, Hu, Wu, Cs, Hs, Ws,
                                                                top, left);
  else
    pad_concat_fwd_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(up, skip, up_bias, out, vecs, Cu, Hu, Wu, Cs, Hs, Ws,
                                                                top, left);
  check_launch(op);
}

void pad_concat_backward(const Ctx& ctx, const bf16* dout, bf16* dup, bf16* dskip, int N, int Cu, int Hu, int Wu,
                         int Cs, int Hs, int Ws) {
  const char* op = "pad_concat_backward";
  need_positive(op, {N, Cu, Hu, Wu, Cs, Hs, Ws});
  if (Hu > Hs || Wu > Ws)
    throw Error("cuda pad_concat_backward: up " + shape_str({Hu, Wu}) + " is larger than skip " + shape_str({Hs, Ws}));
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const bool v8 = nhwc_vec(Cu, {dout, dup}) == 8 && nhwc_vec(Cs, {dskip}) == 8;
  if (dup) {
    const int V = v8 ? 8 : 1;
    const long long vecs = static_cast<long long>(N) * Hu * Wu * Cu / V;
    const int grid = grid_for(vecs, kThreads, ctx, 16);
    if (V == 8)
      pad_concat_bwd_up_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(dout, dup, vecs, Cu, Hu, Wu, Cu + Cs, Hs, Ws, top,
                                                                     left);
    else
      pad_concat_bwd_up_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(dout, dup, vecs, Cu, Hu, Wu, Cu + Cs, Hs, Ws, top,
                                                                     left);
    check_launch(op);
  }
  if (dskip) {
    const int V = v8 ? 8 : 1;
    const long long vecs = static_cast<long long>(N) * Hs * Ws * Cs / V;
    const int grid = grid_for(vecs, kThreads, ctx, 16);
    if (V == 8)
      pad_concat_bwd_skip_kernel<8><<<grid, kThreads, 0, ctx.stream>>>(dout, dskip, vecs, Cu, Cs);
    else
      pad_concat_bwd_skip_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(dout, dskip, vecs, Cu, Cs);
    check_launch(op);
  }
}

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
