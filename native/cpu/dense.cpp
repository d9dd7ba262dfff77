// The time-embedding path: Linear, SiLU and the table lookup, forward and
// backward side by side. The Linear layers are GEMMs on the engine of
// gemm.h (the batch is small, 32 to 512, and the widths up to 1024, so the
// direct dot-product loops were latency-bound scalar reductions).
#include <cmath>
#include <string>

#include "cpu_ops.h"
#include "gemm.h"

namespace ddpm {
namespace cpu {

void linear_forward(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                    int N, int in, int out) {
  if (N < 0 || in < 0 || out < 0) throw Error("linear_forward: negative size");
  // y^T (out x N) = w (out x in) * x^T (in x N) + b, so the bias is a row bias.
  gemm_strided(pool, out, N, in, StridedMatrix{w, in, 1}, StridedMatrix{x, 1, in}, y, 1, out, b);
}

void linear_backward(ThreadPool& pool, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db, int N, int in, int out) {
  if (N < 0 || in < 0 || out < 0) throw Error("linear_backward: negative size");
  // dw (out x in) = dy^T (out x N) * x (N x in)
  gemm_strided(pool, out, in, N, StridedMatrix{dy, 1, out}, StridedMatrix{x, in, 1}, dw, in, 1,
               nullptr);
  // db[o] = sum over n of dy[n, o], in sample order.
  if (db)
    pool.parallel_for(out, 256, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) db[o] = 0.0f;
      for (int n = 0; n < N; ++n) {
        const float* g = dy + static_cast<int64_t>(n) * out;
        for (int64_t o = o0; o < o1; ++o) db[o] += g[o];
      }
    });
  // dx (N x in) = dy (N x out) * w (out x in)
  if (dx)
    gemm_strided(pool, N, in, out, StridedMatrix{dy, out, 1}, StridedMatrix{w, in, 1}, dx, in, 1,
                 nullptr);
}

void silu_forward(ThreadPool& pool, const float* x, float* y, size_t n) {
  pool.parallel_for(static_cast<int64_t>(n), 4096, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
  });
}

void silu_backward(ThreadPool& pool, const float* x, const float* dy, float* dx, size_t n) {
  pool.parallel_for(static_cast<int64_t>(n), 4096, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-x[i]));
      dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
  });
}

void embedding_gather(ThreadPool& pool, const float* table, const int32_t* t, float* out, int N,
                      int D, int T) {
  for (int n = 0; n < N; ++n)
    if (t[n] < 0 || t[n] >= T)
      throw Error("embedding_gather: timestep " + std::to_string(t[n]) + " of sample " +
                  std::to_string(n) + " is outside [0, " + std::to_string(T) + ")");
  (void)pool;
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < D; ++d) out[static_cast<int64_t>(n) * D + d] = table[static_cast<int64_t>(t[n]) * D + d];
}

}  // namespace cpu
}  // namespace ddpm
