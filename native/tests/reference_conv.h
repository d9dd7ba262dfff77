// Ground truth for the convolution tests: the original direct-loop
// convolutions of the CPU backend, single-threaded, accumulating every sum in
// double and writing double outputs (so the only error in a comparison is the
// fast version's own fp32 rounding). Semantics are those of ddpm/backend.h.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ddpm {
namespace ref {

// y (N, Cout, H, W) = conv(x (N, Cin, H, W), w (Cout, Cin, k, k)) + b; stride 1, pad k/2.
inline void conv2d_forward(const float* x, const float* w, const float* b, double* y, int N,
                           int Cin, int H, int W, int Cout, int k) {
  const int pad = k / 2;
  const int64_t HW = static_cast<int64_t>(H) * W;
  for (int n = 0; n < N; ++n)
    for (int co = 0; co < Cout; ++co) {
      double* out = y + (static_cast<int64_t>(n) * Cout + co) * HW;
      for (int64_t i = 0; i < HW; ++i) out[i] = b ? b[co] : 0.0;
      for (int ci = 0; ci < Cin; ++ci) {
        const float* in = x + (static_cast<int64_t>(n) * Cin + ci) * HW;
        const float* wk = w + (static_cast<int64_t>(co) * Cin + ci) * k * k;
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            const double wv = wk[kh * k + kw];
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
}

// Gradients of conv2d_forward for output gradient dy: dx (nullable), dw, db (nullable).
inline void conv2d_backward(const float* x, const float* w, const float* dy, double* dx, double* dw,
                            double* db, int N, int Cin, int H, int W, int Cout, int k) {
  const int pad = k / 2;
  const int64_t HW = static_cast<int64_t>(H) * W;
  for (int co = 0; co < Cout; ++co) {
    if (db) {
      double s = 0.0;
      for (int n = 0; n < N; ++n) {
        const float* g = dy + (static_cast<int64_t>(n) * Cout + co) * HW;
        for (int64_t i = 0; i < HW; ++i) s += g[i];
      }
      db[co] = s;
    }
    for (int ci = 0; ci < Cin; ++ci)
      for (int kh = 0; kh < k; ++kh)
        for (int kw = 0; kw < k; ++kw) {
          double s = 0.0;
          for (int n = 0; n < N; ++n) {
            const float* g = dy + (static_cast<int64_t>(n) * Cout + co) * HW;
            const float* in = x + (static_cast<int64_t>(n) * Cin + ci) * HW;
            for (int h = 0; h < H; ++h) {
              const int hi = h + kh - pad;
              if (hi < 0 || hi >= H) continue;
              for (int ww = 0; ww < W; ++ww) {
                const int wi = ww + kw - pad;
                if (wi < 0 || wi >= W) continue;
                s += static_cast<double>(g[h * W + ww]) * in[hi * W + wi];
              }
            }
          }
          dw[((static_cast<int64_t>(co) * Cin + ci) * k + kh) * k + kw] = s;
        }
  }
  if (!dx) return;
  for (int n = 0; n < N; ++n)
    for (int ci = 0; ci < Cin; ++ci) {
      double* out = dx + (static_cast<int64_t>(n) * Cin + ci) * HW;
      std::fill(out, out + HW, 0.0);
      for (int co = 0; co < Cout; ++co) {
        const float* g = dy + (static_cast<int64_t>(n) * Cout + co) * HW;
        const float* wk = w + (static_cast<int64_t>(co) * Cin + ci) * k * k;
        for (int kh = 0; kh < k; ++kh)
          for (int kw = 0; kw < k; ++kw) {
            const double wv = wk[kh * k + kw];
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
}

// y (N, Cout, 2H, 2W): y[n,co,2h+a,2w+b] = b[co] + sum_ci x[n,ci,h,w] * w[ci,co,a,b];
// w (Cin, Cout, 2, 2) as nn.ConvTranspose2d(Cin, Cout, 2, 2).
inline void conv_transpose2x2_forward(const float* x, const float* w, const float* b, double* y,
                                      int N, int Cin, int H, int W, int Cout) {
  const int64_t HW = static_cast<int64_t>(H) * W, Wo = 2 * W, HWo = 4 * HW;
  for (int n = 0; n < N; ++n)
    for (int co = 0; co < Cout; ++co) {
      double* out = y + (static_cast<int64_t>(n) * Cout + co) * HWo;
      for (int64_t i = 0; i < HWo; ++i) out[i] = b ? b[co] : 0.0;
      for (int ci = 0; ci < Cin; ++ci) {
        const float* in = x + (static_cast<int64_t>(n) * Cin + ci) * HW;
        const float* wk = w + (static_cast<int64_t>(ci) * Cout + co) * 4;
        for (int h = 0; h < H; ++h)
          for (int ww = 0; ww < W; ++ww) {
            const double v = in[h * W + ww];
            double* o = out + (2 * h) * Wo + 2 * ww;
            o[0] += v * wk[0];
            o[1] += v * wk[1];
            o[Wo] += v * wk[2];
            o[Wo + 1] += v * wk[3];
          }
      }
    }
}

// Gradients of conv_transpose2x2_forward: dx (nullable), dw, db (nullable).
inline void conv_transpose2x2_backward(const float* x, const float* w, const float* dy, double* dx,
                                       double* dw, double* db, int N, int Cin, int H, int W,
                                       int Cout) {
  const int64_t HW = static_cast<int64_t>(H) * W, Wo = 2 * W, HWo = 4 * HW;
  if (db)
    for (int co = 0; co < Cout; ++co) {
      double s = 0.0;
      for (int n = 0; n < N; ++n) {
        const float* g = dy + (static_cast<int64_t>(n) * Cout + co) * HWo;
        for (int64_t i = 0; i < HWo; ++i) s += g[i];
      }
      db[co] = s;
    }
  for (int ci = 0; ci < Cin; ++ci)
    for (int co = 0; co < Cout; ++co) {
      double s[4] = {0, 0, 0, 0};
      for (int n = 0; n < N; ++n) {
        const float* in = x + (static_cast<int64_t>(n) * Cin + ci) * HW;
        const float* g = dy + (static_cast<int64_t>(n) * Cout + co) * HWo;
        for (int h = 0; h < H; ++h)
          for (int ww = 0; ww < W; ++ww) {
            const double v = in[h * W + ww];
            const float* o = g + (2 * h) * Wo + 2 * ww;
            s[0] += v * o[0];
            s[1] += v * o[1];
            s[2] += v * o[Wo];
            s[3] += v * o[Wo + 1];
          }
      }
      std::copy(s, s + 4, dw + (static_cast<int64_t>(ci) * Cout + co) * 4);
    }
  if (!dx) return;
  for (int n = 0; n < N; ++n)
    for (int ci = 0; ci < Cin; ++ci) {
      double* out = dx + (static_cast<int64_t>(n) * Cin + ci) * HW;
      std::fill(out, out + HW, 0.0);
      for (int co = 0; co < Cout; ++co) {
        const float* g = dy + (static_cast<int64_t>(n) * Cout + co) * HWo;
        const float* wk = w + (static_cast<int64_t>(ci) * Cout + co) * 4;
        for (int h = 0; h < H; ++h)
          for (int ww = 0; ww < W; ++ww) {
            const float* o = g + (2 * h) * Wo + 2 * ww;
            out[h * W + ww] += static_cast<double>(wk[0]) * o[0] + static_cast<double>(wk[1]) * o[1] +
                               static_cast<double>(wk[2]) * o[Wo] + static_cast<double>(wk[3]) * o[Wo + 1];
          }
      }
    }
}

}  // namespace ref
}  // namespace ddpm
