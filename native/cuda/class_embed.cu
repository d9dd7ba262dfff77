// The class embedding of a conditional UNet, as native/cpu/class_embed.cpp:
// rows of a (K, D) table added by label, and the gradient as a gather (one
// thread per table element sums its rows' gradients over slices, then
// samples, in a fixed order: deterministic, no atomics). A label outside
// [0, K) is recorded on the device and thrown at the next synchronisation.
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

namespace {

__global__ void class_embed_add_kernel(const float* __restrict__ table, const int32_t* __restrict__ labels,
                                       float* __restrict__ out, int N, int D, int K, DeviceError* err) {
  const long long total = static_cast<long long>(N) * D;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int n = static_cast<int>(i / D), d = static_cast<int>(i % D);
    const int y = labels[n];
    if (y < 0 || y >= K) {
      if (d == 0) report_error(err, kErrClassLabel, n, y, K);
      continue;
    }
    out[i] += table[static_cast<long long>(y) * D + d];
  }
}

__global__ void class_embed_backward_kernel(const float* __restrict__ dout, int slices,
                                            const int32_t* __restrict__ labels, float* __restrict__ dtable, int N,
                                            int D, int K, DeviceError* err) {
  const long long total = static_cast<long long>(K) * D;
  const long long slice = static_cast<long long>(N) * D;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int k = static_cast<int>(i / D), d = static_cast<int>(i % D);
    float acc = 0.0f;
    for (int s = 0; s < slices; ++s)
      for (int n = 0; n < N; ++n) {
        const int y = labels[n];
        if (i == 0 && (y < 0 || y >= K)) report_error(err, kErrClassLabel, n, y, K);
        if (y == k) acc += dout[s * slice + static_cast<long long>(n) * D + d];
      }
    dtable[i] = acc;
  }
}

void check_dims(const char* op, int N, int D, int K) {
  if (N < 0 || D <= 0 || K <= 0)
    throw Error(std::string("cuda ") + op + ": N >= 0, D > 0 and K > 0 needed, got " + shape_str({N, D, K}));
}

}  // namespace

namespace ops {

void class_embed_add(const Ctx& ctx, const float* table, const int32_t* labels, float* out, int N, int D, int K) {
  check_dims("class_embed_add", N, D, K);
  if (N == 0) return;
  class_embed_add_kernel<<<grid_for(static_cast<long long>(N) * D, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      table, labels, out, N, D, K, ctx.error);
  check_launch("class_embed_add");
}

void class_embed_backward(const Ctx& ctx, const float* dout, int slices, const int32_t* labels, float* dtable, int N,
                          int D, int K) {
  check_dims("class_embed_backward", N, D, K);
  if (slices < 1) throw Error("cuda class_embed_backward: slices must be >= 1, got " + std::to_string(slices));
  class_embed_backward_kernel<<<grid_for(static_cast<long long>(K) * D, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      dout, slices, labels, dtable, N, D, K, ctx.error);
  check_launch("class_embed_backward");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
