// Per-plane and per-channel helpers on NCHW tensors: fill, bias add, the
// deterministic per-channel sum (conv/convT bias gradients), per-plane sums
// (add_channel_backward), and add_channel_forward.
//
// Plane kernels use "groups": G lanes (a power of two <= 32, about the
// plane's length in float4s) walk one (n, c) plane, so tiny planes (2x2) do
// not leave 31 lanes of a warp idle and large ones are read fully coalesced.
#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

// ---- kernels -----------------------------------------------------------------

__global__ void fill_kernel(float* __restrict__ dst, float value, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t n4 = aligned16(dst) ? n / 4 : 0;
  float4* d4 = reinterpret_cast<float4*>(dst);
  const float4 v4 = make_float4(value, value, value, value);
  for (size_t k = i; k < n4; k += stride) d4[k] = v4;
  for (size_t k = n4 * 4 + i; k < n; k += stride) dst[k] = value;
}

// y[p, :] += b[p % C] (add_bias) or y[p, :] = x[p, :] + a[p] (add_channel).
template <int VEC, bool PER_PLANE>
__global__ void plane_add_kernel(const float* x, const float* a, float* y, long long planes, int C,
                                 int plane_vecs, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const int lane = threadIdx.x & (G - 1);
  for (long long p = tid / G; p < planes; p += groups) {
    const float add = PER_PLANE ? a[p] : a[p % C];
    const long long base = p * plane_vecs * VEC;
    for (int i = lane; i < plane_vecs; i += G) {
      float v[VEC];
      load_vec<VEC>(x + base + static_cast<long long>(i) * VEC, v);
#pragma unroll
      for (int k = 0; k < VEC; ++k) v[k] = v[k] + add;
      store_vec<VEC>(y + base + static_cast<long long>(i) * VEC, v);
    }
  }
}

// partials[s * C + c] = sum of x over the planes (n, c), n = s*groups + group (+ S*groups ...).
template <int VEC>
__global__ void channel_sum_partial_kernel(const float* __restrict__ x, int N, int C, int plane_vecs,
                                           int G, double* __restrict__ partials) {
  __shared__ double smem[32];
  const int c = blockIdx.x, s = blockIdx.y, S = gridDim.y;
  const int lane = threadIdx.x & (G - 1), group = threadIdx.x / G, groups = blockDim.x / G;
  double acc = 0.0;
  for (int n = s * groups + group; n < N; n += S * groups) {
    const float* p = x + (static_cast<long long>(n) * C + c) * plane_vecs * VEC;
    float a = 0.0f;
    for (int i = lane; i < plane_vecs; i += G) {
      float v[VEC];
      load_vec<VEC>(p + static_cast<long long>(i) * VEC, v);
#pragma unroll
      for (int k = 0; k < VEC; ++k) a += v[k];
    }
    acc += a;
  }
  acc = block_sum(acc, smem);
  if (threadIdx.x == 0) partials[static_cast<long long>(s) * C + c] = acc;
}

__global__ void channel_sum_finalize_kernel(const double* __restrict__ partials, int S, int C,
                                            float* __restrict__ out) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s = 0.0;
  for (int k = 0; k < S; ++k) s += partials[static_cast<long long>(k) * C + c];
  out[c] = static_cast<float>(s);
}

// out[p] = sum of plane p. The loop over planes has the same trip count in
// every thread (base is grid-uniform), so group_sum's shuffles are safe.
template <int VEC>
__global__ void plane_sum_kernel(const float* __restrict__ x, float* __restrict__ out,
                                 long long planes, int plane_vecs, int G) {
  const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long groups = static_cast<long long>(gridDim.x) * blockDim.x / G;
  const long long gid = tid / G;
  const int lane = threadIdx.x & (G - 1);
  for (long long base = 0; base < planes; base += groups) {
    const long long p = base + gid;
    const bool active = p < planes;
    float a = 0.0f;
    if (active) {
      const float* q = x + p * plane_vecs * VEC;
      for (int i = lane; i < plane_vecs; i += G) {
        float v[VEC];
        load_vec<VEC>(q + static_cast<long long>(i) * VEC, v);
#pragma unroll
        for (int k = 0; k < VEC; ++k) a += v[k];
      }
    }
    a = group_sum(a, G);
    if (active && lane == 0) out[p] = a;
  }
}

int plane_grid(const Ctx& ctx, long long planes, int G) {
  return grid_for(planes * G, kThreads, ctx, 8);
}

}  // namespace

// ---- launchers -----------------------------------------------------------------

namespace ops {

void fill(const Ctx& ctx, float* dst, float value, size_t n) {
  if (n == 0) return;
  fill_kernel<<<grid_for(static_cast<long long>(n / 4 + 1), kThreads, ctx), kThreads, 0, ctx.stream>>>(
      dst, value, n);
  check_launch("fill");
}

void add_bias(const Ctx& ctx, float* y, const float* b, int N, int C, long long HW, const char* op) {
  if (!b) return;
  const long long planes = static_cast<long long>(N) * C;
  if (planes == 0 || HW == 0) return;
  if (HW % 4 == 0 && aligned16(y)) {
    const int G = group_lanes(HW / 4);
    plane_add_kernel<4, false><<<plane_grid(ctx, planes, G), kThreads, 0, ctx.stream>>>(
        y, b, y, planes, C, static_cast<int>(HW / 4), G);
  } else {
    const int G = group_lanes(HW);
    plane_add_kernel<1, false><<<plane_grid(ctx, planes, G), kThreads, 0, ctx.stream>>>(
        y, b, y, planes, C, static_cast<int>(HW), G);
  }
  check_launch(op);
}

void channel_sum(const Ctx& ctx, const float* x, float* out, int N, int C, long long HW, const char* op) {
  if (C <= 0) return;
  if (C > kMaxPartials) throw Error(std::string(op) + ": too many channels (" + std::to_string(C) + ")");
  const bool v4 = HW % 4 == 0 && aligned16(x);
  const long long plane_vecs = v4 ? HW / 4 : HW;
  const int G = group_lanes(plane_vecs);
  const int groups = kThreads / G;
  long long S = (static_cast<long long>(N) + groups - 1) / groups;
  S = std::min<long long>(S, (4LL * ctx.sm_count + C - 1) / C);
  S = std::min<long long>(S, kMaxPartials / C);
  S = std::max<long long>(S, 1);
  const dim3 grid(C, static_cast<unsigned>(S));
  if (v4)
    channel_sum_partial_kernel<4><<<grid, kThreads, 0, ctx.stream>>>(x, N, C, static_cast<int>(plane_vecs), G,
                                                                      ctx.partials);
  else
    channel_sum_partial_kernel<1><<<grid, kThreads, 0, ctx.stream>>>(x, N, C, static_cast<int>(plane_vecs), G,
                                                                      ctx.partials);
  check_launch(op);
  channel_sum_finalize_kernel<<<(C + kThreads - 1) / kThreads, kThreads, 0, ctx.stream>>>(
      ctx.partials, static_cast<int>(S), C, out);
  check_launch(op);
}

void plane_sum(const Ctx& ctx, const float* x, float* out, long long planes, long long HW, const char* op) {
  if (planes <= 0) return;
  if (HW <= 0) {
    fill(ctx, out, 0.0f, static_cast<size_t>(planes));
    return;
  }
  if (HW % 4 == 0 && aligned16(x)) {
    const int G = group_lanes(HW / 4);
    plane_sum_kernel<4><<<plane_grid(ctx, planes, G), kThreads, 0, ctx.stream>>>(
        x, out, planes, static_cast<int>(HW / 4), G);
  } else {
    const int G = group_lanes(HW);
    plane_sum_kernel<1><<<plane_grid(ctx, planes, G), kThreads, 0, ctx.stream>>>(
        x, out, planes, static_cast<int>(HW), G);
  }
  check_launch(op);
}

void add_channel_forward(const Ctx& ctx, const float* x, const float* add, float* y, int N, int C, int HW) {
  const long long planes = static_cast<long long>(N) * C;
  if (planes <= 0 || HW <= 0) return;
  if (HW % 4 == 0 && aligned16(x) && aligned16(y)) {
    const int G = group_lanes(HW / 4);
    plane_add_kernel<4, true><<<plane_grid(ctx, planes, G), kThreads, 0, ctx.stream>>>(
        x, add, y, planes, C, HW / 4, G);
  } else {
    const int G = group_lanes(HW);
    plane_add_kernel<1, true><<<plane_grid(ctx, planes, G), kThreads, 0, ctx.stream>>>(
        x, add, y, planes, C, HW, G);
  }
  check_launch("add_channel_forward");
}

void add_channel_backward(const Ctx& ctx, const float* dy, float* dadd, int N, int C, int HW) {
  plane_sum(ctx, dy, dadd, static_cast<long long>(N) * C, HW, "add_channel_backward");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
