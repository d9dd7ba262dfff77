// The UNet's glue ops, as native/cpu/pool_concat.cpp: 2x2 max-pool with the
// per-(n, c) add folded into its output, and the up path's pad + concat.
//   maxpool forward:  one thread per output, grid-stride.
//   maxpool backward: a group of lanes per (n, c) plane routes each dy to
//     the first max of its window (windows are disjoint: no atomics) and,
//     when dadd is wanted, reduces the plane's dy with group shuffles.
//   pad_concat: plane copies (float4 when the sizes match, the seed's case),
//     or a windowed copy with zero fill when the up tensor is smaller.
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

__global__ void maxpool_fwd_kernel(const float* __restrict__ x, float* __restrict__ y,
                                   const float* __restrict__ add, long long total, int H, int W, int Ho,
                                   int Wo) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long idx = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int j = static_cast<int>(idx % Wo);
    const long long t = idx / Wo;
    const int i = static_cast<int>(t % Ho);
    const long long p = t / Ho;
    const float* r0 = x + p * H * W + static_cast<long long>(2 * i) * W + 2 * j;
    const float* r1 = r0 + W;
    float m = r0[0];
    if (r0[1] > m) m = r0[1];
    if (r1[0] > m) m = r1[0];
    if (r1[1] > m) m = r1[1];
    y[idx] = m + (add ? add[p] : 0.0f);
  }
}

__global__ void maxpool_bwd_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                   float* __restrict__ dx, float* __restrict__ dadd, long long planes,
                                   int H, int W, int Ho, int Wo, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const long long gid = tid / G;
  const int lane = threadIdx.x & (G - 1);
  const int HWo = Ho * Wo;
  for (long long base = 0; base < planes; base += groups) {  // grid-uniform trip count
    const long long p = base + gid;
    const bool active = p < planes;
    float sum = 0.0f;
    if (active) {
      const float* in = x + p * H * W;
      const float* g = dy + p * HWo;
      float* out = dx + p * H * W;
      for (int k = lane; k < HWo; k += G) {
        const int i = k / Wo, j = k % Wo;
        const int b = 2 * i * W + 2 * j;
        int best = b;
        if (in[b + 1] > in[best]) best = b + 1;
        if (in[b + W] > in[best]) best = b + W;
        if (in[b + W + 1] > in[best]) best = b + W + 1;
        const float v = g[k];
        out[best] += v;
        sum += v;
      }
    }
    if (dadd) {
      sum = group_sum(sum, G);
      if (active && lane == 0) dadd[p] = sum;
    }
  }
}

// Plane q of `count` planes (q = n * Cp + c): dst plane n*Cd + dst_off + c
// = src plane n*Csrc + src_off + c, both of `plane` floats.
template <int VEC>
__global__ void copy_planes_kernel(const float* __restrict__ src, float* __restrict__ dst, long long count,
                                   int Cp, int Csrc, int src_off, int Cd, int dst_off, int plane_vecs, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const int lane = threadIdx.x & (G - 1);
  const long long plane = static_cast<long long>(plane_vecs) * VEC;
  for (long long q = tid / G; q < count; q += groups) {
    const long long n = q / Cp;
    const int c = static_cast<int>(q % Cp);
    const float* s = src + (n * Csrc + src_off + c) * plane;
    float* d = dst + (n * Cd + dst_off + c) * plane;
    for (int i = lane; i < plane_vecs; i += G) {
      float v[VEC];
      load_vec<VEC>(s + static_cast<long long>(i) * VEC, v);
      store_vec<VEC>(d + static_cast<long long>(i) * VEC, v);
    }
  }
}

// As copy_planes, but planes differ in size: dst (Hd, Wd)[h, w] = src (Hs, Ws)[h + oy, w + ox]
// where that is inside src, else 0.
__global__ void copy_window_kernel(const float* __restrict__ src, float* __restrict__ dst, long long count,
                                   int Cp, int Csrc, int src_off, int Cd, int dst_off, int Hs, int Ws,
                                   int Hd, int Wd, int oy, int ox, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const int lane = threadIdx.x & (G - 1);
  const int dplane = Hd * Wd;
  for (long long q = tid / G; q < count; q += groups) {
    const long long n = q / Cp;
    const int c = static_cast<int>(q % Cp);
    const float* s = src + (n * Csrc + src_off + c) * static_cast<long long>(Hs) * Ws;
    float* d = dst + (n * Cd + dst_off + c) * static_cast<long long>(dplane);
    for (int k = lane; k < dplane; k += G) {
      const int h = k / Wd + oy, w = k % Wd + ox;
      d[k] = (h >= 0 && h < Hs && w >= 0 && w < Ws) ? s[h * Ws + w] : 0.0f;
    }
  }
}

void copy_planes(const Ctx& ctx, const char* op, const float* src, float* dst, int N, int Cp, int Csrc,
                 int src_off, int Cd, int dst_off, long long plane) {
  const long long count = static_cast<long long>(N) * Cp;
  if (count <= 0 || plane <= 0) return;
  if (plane % 4 == 0 && aligned16(src) && aligned16(dst)) {
    const int G = group_lanes(plane / 4);
    copy_planes_kernel<4><<<grid_for(count * G, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(
        src, dst, count, Cp, Csrc, src_off, Cd, dst_off, static_cast<int>(plane / 4), G);
  } else {
    const int G = group_lanes(plane);
    copy_planes_kernel<1><<<grid_for(count * G, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(
        src, dst, count, Cp, Csrc, src_off, Cd, dst_off, static_cast<int>(plane), G);
  }
  check_launch(op);
}

void copy_window(const Ctx& ctx, const char* op, const float* src, float* dst, int N, int Cp, int Csrc,
                 int src_off, int Cd, int dst_off, int Hs, int Ws, int Hd, int Wd, int oy, int ox) {
  const long long count = static_cast<long long>(N) * Cp;
  if (count <= 0 || Hd <= 0 || Wd <= 0) return;
  const int G = group_lanes(static_cast<long long>(Hd) * Wd);
  copy_window_kernel<<<grid_for(count * G, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(
      src, dst, count, Cp, Csrc, src_off, Cd, dst_off, Hs, Ws, Hd, Wd, oy, ox, G);
  check_launch(op);
}

// out[n, c, top + i, left + j] += b[c] for c < Cu, i < Hu, j < Wu (out has Co channels).
__global__ void add_window_bias_kernel(float* __restrict__ out, const float* __restrict__ b, long long total, int Cu,
                                       int Co, int Hu, int Wu, int Hs, int Ws, int top, int left) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int j = static_cast<int>(i % Wu);
    long long t = i / Wu;
    const int r = static_cast<int>(t % Hu);
    t /= Hu;
    const int c = static_cast<int>(t % Cu);
    const long long n = t / Cu;
    out[((n * Co + c) * Hs + r + top) * Ws + j + left] += b[c];
  }
}

void check_pad_concat(const char* op, int N, int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  if (N < 0 || Cu < 0 || Cs < 0 || Hu < 0 || Wu < 0 || Hu > Hs || Wu > Ws)
    throw Error(std::string("cuda ") + op + ": needs 0 <= Hu <= Hs and 0 <= Wu <= Ws, got up " +
                shape_str({N, Cu, Hu, Wu}) + " skip " + shape_str({N, Cs, Hs, Ws}));
}

}  // namespace

namespace ops {

void maxpool2x2_forward(const Ctx& ctx, const float* x, float* y, const float* add, int N, int C, int H,
                        int W) {
  const int Ho = H / 2, Wo = W / 2;
  const long long total = static_cast<long long>(N) * C * Ho * Wo;
  if (total <= 0) return;
  maxpool_fwd_kernel<<<grid_for(total, kThreads, ctx), kThreads, 0, ctx.stream>>>(x, y, add, total, H, W, Ho, Wo);
  check_launch("maxpool2x2_forward");
}

void maxpool2x2_backward(const Ctx& ctx, const float* x, const float* dy, float* dx, float* dadd, int N, int C,
                         int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  const long long planes = static_cast<long long>(N) * C;
  if (planes <= 0) return;
  const int G = group_lanes(static_cast<long long>(Ho) * Wo);
  maxpool_bwd_kernel<<<grid_for(planes * G, kThreads, ctx, 8), kThreads, 0, ctx.stream>>>(
      x, dy, dx, dadd, planes, H, W, Ho, Wo, G);
  check_launch("maxpool2x2_backward");
}

void pad_concat_forward(const Ctx& ctx, const float* up, const float* skip, const float* up_bias, float* out, int N,
                        int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  const char* op = "pad_concat_forward";
  check_pad_concat(op, N, Cu, Hu, Wu, Cs, Hs, Ws);
  const int Co = Cu + Cs, top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const long long plane = static_cast<long long>(Hs) * Ws;
  if (Hu == Hs && Wu == Ws)
    copy_planes(ctx, op, up, out, N, Cu, Cu, 0, Co, 0, plane);
  else
    copy_window(ctx, op, up, out, N, Cu, Cu, 0, Co, 0, Hu, Wu, Hs, Ws, -top, -left);
  copy_planes(ctx, op, skip, out, N, Cs, Cs, 0, Co, Cu, plane);
  const long long window = static_cast<long long>(N) * Cu * Hu * Wu;
  if (up_bias && window > 0) {  // float32 is not the fast path: a pass of its own over the window
    add_window_bias_kernel<<<grid_for(window, kThreads, ctx), kThreads, 0, ctx.stream>>>(out, up_bias, window, Cu, Co,
                                                                                         Hu, Wu, Hs, Ws, top, left);
    check_launch(op);
  }
}

void pad_concat_backward(const Ctx& ctx, const float* dout, float* dup, float* dskip, int N, int Cu, int Hu,
                         int Wu, int Cs, int Hs, int Ws) {
  const char* op = "pad_concat_backward";
  check_pad_concat(op, N, Cu, Hu, Wu, Cs, Hs, Ws);
  const int Co = Cu + Cs, top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const long long plane = static_cast<long long>(Hs) * Ws;
  if (dup) {
    if (Hu == Hs && Wu == Ws)
      copy_planes(ctx, op, dout, dup, N, Cu, Co, 0, Cu, 0, plane);
    else
      copy_window(ctx, op, dout, dup, N, Cu, Co, 0, Cu, 0, Hs, Ws, Hu, Wu, top, left);
  }
  if (dskip) copy_planes(ctx, op, dout, dskip, N, Cs, Co, Cu, Cs, 0, plane);
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
