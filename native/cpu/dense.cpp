// The time-embedding path: Linear, SiLU and the table lookup, forward and
// backward side by side. These are small (N x <=1024 x <=1024), so plain
// loops with vectorisable inner products suffice.
#include <cmath>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void linear_forward(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                    int N, int in, int out) {
  pool.parallel_for(out, 16, [&](int64_t o0, int64_t o1) {
    for (int n = 0; n < N; ++n) {
      const float* xr = x + static_cast<int64_t>(n) * in;
      for (int64_t o = o0; o < o1; ++o) {
        const float* wr = w + o * in;
        float s = 0.0f;
        for (int i = 0; i < in; ++i) s += xr[i] * wr[i];
        y[static_cast<int64_t>(n) * out + o] = s + (b ? b[o] : 0.0f);
      }
    }
  });
}

void linear_backward(ThreadPool& pool, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db, int N, int in, int out) {
  // dw[o, :] = sum_n dy[n, o] * x[n, :];  db[o] = sum_n dy[n, o]
  pool.parallel_for(out, 16, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      float* wr = dw + o * in;
      for (int i = 0; i < in; ++i) wr[i] = 0.0f;
      float bs = 0.0f;
      for (int n = 0; n < N; ++n) {
        const float g = dy[static_cast<int64_t>(n) * out + o];
        const float* xr = x + static_cast<int64_t>(n) * in;
        for (int i = 0; i < in; ++i) wr[i] += g * xr[i];
        bs += g;
      }
      if (db) db[o] = bs;
    }
  });
  if (!dx) return;
  // dx[n, :] = sum_o dy[n, o] * w[o, :]
  pool.parallel_for(N, 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      float* xr = dx + n * in;
      for (int i = 0; i < in; ++i) xr[i] = 0.0f;
      for (int o = 0; o < out; ++o) {
        const float g = dy[n * out + o];
        const float* wr = w + static_cast<int64_t>(o) * in;
        for (int i = 0; i < in; ++i) xr[i] += g * wr[i];
      }
    }
  });
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
