// 2x2 stride-2 transposed convolution (the up path's upsampling), forward
// and backward. Windows do not overlap, so each output pixel has exactly one
// input pixel: y[n,co,2h+a,2w+b] = b[co] + sum_ci x[n,ci,h,w] * w[ci,co,a,b].
#include <cstring>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void conv_transpose2x2_forward(ThreadPool& pool, const float* x, const float* w, const float* b,
                               float* y, int N, int Cin, int H, int W, int Cout) {
  const int64_t HW = static_cast<int64_t>(H) * W, Wo = 2 * W, HWo = 4 * HW;
  pool.parallel_for(static_cast<int64_t>(N) * Cout, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Cout, co = p % Cout;
      float* out = y + p * HWo;
      const float bias = b ? b[co] : 0.0f;
      for (int64_t i = 0; i < HWo; ++i) out[i] = bias;
      for (int ci = 0; ci < Cin; ++ci) {
        const float* in = x + (n * Cin + ci) * HW;
        const float* wk = w + (ci * static_cast<int64_t>(Cout) + co) * 4;
        for (int h = 0; h < H; ++h)
          for (int ww = 0; ww < W; ++ww) {
            const float v = in[h * W + ww];
            float* o = out + (2 * h) * Wo + 2 * ww;
            o[0] += v * wk[0];
            o[1] += v * wk[1];
            o[Wo] += v * wk[2];
            o[Wo + 1] += v * wk[3];
          }
      }
    }
  });
}

void conv_transpose2x2_backward(ThreadPool& pool, const float* x, const float* w, const float* dy,
                                float* dx, float* dw, float* db, int N, int Cin, int H, int W,
                                int Cout) {
  const int64_t HW = static_cast<int64_t>(H) * W, Wo = 2 * W, HWo = 4 * HW;
  if (db) {
    pool.parallel_for(Cout, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t co = c0; co < c1; ++co) {
        float s = 0.0f;
        for (int n = 0; n < N; ++n) {
          const float* g = dy + (n * static_cast<int64_t>(Cout) + co) * HWo;
          for (int64_t i = 0; i < HWo; ++i) s += g[i];
        }
        db[co] = s;
      }
    });
  }
  pool.parallel_for(Cin, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ci = c0; ci < c1; ++ci)
      for (int co = 0; co < Cout; ++co) {
        float s[4] = {0, 0, 0, 0};
        for (int n = 0; n < N; ++n) {
          const float* in = x + (n * static_cast<int64_t>(Cin) + ci) * HW;
          const float* g = dy + (n * static_cast<int64_t>(Cout) + co) * HWo;
          for (int h = 0; h < H; ++h)
            for (int ww = 0; ww < W; ++ww) {
              const float v = in[h * W + ww];
              const float* o = g + (2 * h) * Wo + 2 * ww;
              s[0] += v * o[0];
              s[1] += v * o[1];
              s[2] += v * o[Wo];
              s[3] += v * o[Wo + 1];
            }
        }
        std::memcpy(dw + (ci * Cout + co) * 4, s, sizeof(s));
      }
  });
  if (!dx) return;
  pool.parallel_for(static_cast<int64_t>(N) * Cin, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Cin, ci = p % Cin;
      float* out = dx + p * HW;
      std::memset(out, 0, sizeof(float) * HW);
      for (int co = 0; co < Cout; ++co) {
        const float* g = dy + (n * Cout + co) * HWo;
        const float* wk = w + (ci * static_cast<int64_t>(Cout) + co) * 4;
        for (int h = 0; h < H; ++h)
          for (int ww = 0; ww < W; ++ww) {
            const float* o = g + (2 * h) * Wo + 2 * ww;
            out[h * W + ww] += wk[0] * o[0] + wk[1] * o[1] + wk[2] * o[Wo] + wk[3] * o[Wo + 1];
          }
      }
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
