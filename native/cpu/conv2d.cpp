// 3x3 (pad 1) and 1x1 convolution, stride 1, forward and backward.
// Straightforward direct loops for now; parallel over (n, cout) for the
// forward and backward-data and over cout for backward-filter.
#include <cstring>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void conv2d_forward(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                    int N, int Cin, int H, int W, int Cout, int k) {
  if (k != 1 && k != 3) throw Error("conv2d_forward: kernel size must be 1 or 3");
  const int pad = k / 2;
  const int64_t HW = static_cast<int64_t>(H) * W;
  pool.parallel_for(static_cast<int64_t>(N) * Cout, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Cout, co = p % Cout;
      float* out = y + p * HW;
      const float bias = b ? b[co] : 0.0f;
      for (int64_t i = 0; i < HW; ++i) out[i] = bias;
      for (int ci = 0; ci < Cin; ++ci) {
        const float* in = x + (n * Cin + ci) * HW;
        const float* wk = w + (co * Cin + ci) * k * k;
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            const float wv = wk[kh * k + kw];
            for (int h = 0; h < H; ++h) {
              const int hi = h + kh - pad;
              if (hi < 0 || hi >= H) continue;
              for (int ww = 0; ww < W; ++ww) {
                const int wi = ww + kw - pad;
                if (wi < 0 || wi >= W) continue;
                out[h * W + ww] += wv * in[hi * W + wi];
              }
            }
          }
      }
    }
  });
}

void conv2d_backward(ThreadPool& pool, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k) {
  if (k != 1 && k != 3) throw Error("conv2d_backward: kernel size must be 1 or 3");
  const int pad = k / 2;
  const int64_t HW = static_cast<int64_t>(H) * W;
  pool.parallel_for(Cout, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t co = c0; co < c1; ++co) {
      if (db) {
        float s = 0.0f;
        for (int n = 0; n < N; ++n) {
          const float* g = dy + (n * static_cast<int64_t>(Cout) + co) * HW;
          for (int64_t i = 0; i < HW; ++i) s += g[i];
        }
        db[co] = s;
      }
      for (int ci = 0; ci < Cin; ++ci)
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            float s = 0.0f;
            for (int n = 0; n < N; ++n) {
              const float* g = dy + (n * static_cast<int64_t>(Cout) + co) * HW;
              const float* in = x + (n * static_cast<int64_t>(Cin) + ci) * HW;
              for (int h = 0; h < H; ++h) {
                const int hi = h + kh - pad;
                if (hi < 0 || hi >= H) continue;
                for (int ww = 0; ww < W; ++ww) {
                  const int wi = ww + kw - pad;
                  if (wi < 0 || wi >= W) continue;
                  s += g[h * W + ww] * in[hi * W + wi];
                }
              }
            }
            dw[((co * Cin + ci) * k + kh) * k + kw] = s;
          }
    }
  });
  if (!dx) return;
  pool.parallel_for(static_cast<int64_t>(N) * Cin, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Cin, ci = p % Cin;
      float* out = dx + p * HW;
      std::memset(out, 0, sizeof(float) * HW);
      for (int co = 0; co < Cout; ++co) {
        const float* g = dy + (n * Cout + co) * HW;
        const float* wk = w + (co * static_cast<int64_t>(Cin) + ci) * k * k;
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            const float wv = wk[kh * k + kw];
            for (int h = 0; h < H; ++h) {
              const int hi = h + kh - pad;
              if (hi < 0 || hi >= H) continue;
              for (int ww = 0; ww < W; ++ww) {
                const int wi = ww + kw - pad;
                if (wi < 0 || wi >= W) continue;
                out[hi * W + wi] += wv * g[h * W + ww];
              }
            }
          }
      }
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
