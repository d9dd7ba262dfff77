// The UNet's glue ops: 2x2 max-pool (with the time-embedding add folded into
// its output), the up path's pad-and-concat, and the per-channel add.
// Forward and backward side by side; each task a run of (n, c) planes
// (grain_for: small planes go many to a task).
#include <cstring>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {

void maxpool2x2_forward(ThreadPool& pool, const float* x, float* y, const float* add, int N, int C,
                        int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(int64_t(H) * W, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* in = x + p * H * W;
      float* out = y + p * Ho * Wo;
      const float a = add ? add[p] : 0.0f;
      for (int i = 0; i < Ho; ++i) {
        const float* r0 = in + (2 * i) * W;
        const float* r1 = r0 + W;
        for (int j = 0; j < Wo; ++j) {
          float m = r0[2 * j];
          if (r0[2 * j + 1] > m) m = r0[2 * j + 1];
          if (r1[2 * j] > m) m = r1[2 * j];
          if (r1[2 * j + 1] > m) m = r1[2 * j + 1];
          out[i * Wo + j] = m + a;
        }
      }
    }
  });
}

void maxpool2x2_backward(ThreadPool& pool, const float* x, const float* dy, float* dx, float* dadd,
                         int N, int C, int H, int W) {
  const int Ho = H / 2, Wo = W / 2;
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(int64_t(H) * W, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* in = x + p * H * W;
      const float* g = dy + p * Ho * Wo;
      float* out = dx + p * H * W;
      float sum = 0.0f;
      for (int i = 0; i < Ho; ++i) {
        for (int j = 0; j < Wo; ++j) {
          const int base = 2 * i * W + 2 * j;
          int best = base;
          if (in[base + 1] > in[best]) best = base + 1;
          if (in[base + W] > in[best]) best = base + W;
          if (in[base + W + 1] > in[best]) best = base + W + 1;
          const float v = g[i * Wo + j];
          out[best] += v;
          sum += v;
        }
      }
      if (dadd) dadd[p] = sum;
    }
  });
}

void pad_concat_forward(ThreadPool& pool, const float* up, const float* skip, float* out, int N,
                        int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const int Co = Cu + Cs;
  const int64_t plane = static_cast<int64_t>(Hs) * Ws;
  pool.parallel_for(static_cast<int64_t>(N) * Co, grain_for(plane, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Co;
      const int c = static_cast<int>(p % Co);
      float* o = out + p * plane;
      if (c < Cu) {
        const float* u = up + (n * Cu + c) * static_cast<int64_t>(Hu) * Wu;
        if (Hu == Hs && Wu == Ws) {
          std::memcpy(o, u, sizeof(float) * plane);
        } else {
          std::memset(o, 0, sizeof(float) * plane);
          for (int i = 0; i < Hu; ++i)
            std::memcpy(o + (i + top) * Ws + left, u + static_cast<int64_t>(i) * Wu,
                        sizeof(float) * Wu);
        }
      } else {
        std::memcpy(o, skip + (n * Cs + (c - Cu)) * plane, sizeof(float) * plane);
      }
    }
  });
}

void pad_concat_backward(ThreadPool& pool, const float* dout, float* dup, float* dskip, int N,
                         int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  const int Co = Cu + Cs;
  const int64_t plane = static_cast<int64_t>(Hs) * Ws;
  pool.parallel_for(static_cast<int64_t>(N) * Co, grain_for(plane, 8), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / Co;
      const int c = static_cast<int>(p % Co);
      const float* g = dout + p * plane;
      if (c < Cu) {
        if (!dup) continue;
        float* u = dup + (n * Cu + c) * static_cast<int64_t>(Hu) * Wu;
        for (int i = 0; i < Hu; ++i)
          std::memcpy(u + static_cast<int64_t>(i) * Wu, g + (i + top) * Ws + left,
                      sizeof(float) * Wu);
      } else if (dskip) {
        std::memcpy(dskip + (n * Cs + (c - Cu)) * plane, g, sizeof(float) * plane);
      }
    }
  });
}

void add_channel_forward(ThreadPool& pool, const float* x, const float* add, float* y, int N, int C,
                         int HW) {
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(HW, 16), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float a = add[p];
      const float* in = x + p * HW;
      float* out = y + p * HW;
      for (int i = 0; i < HW; ++i) out[i] = in[i] + a;
    }
  });
}

void add_channel_backward(ThreadPool& pool, const float* dy, float* dadd, int N, int C, int HW) {
  pool.parallel_for(static_cast<int64_t>(N) * C, grain_for(HW, 16), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* g = dy + p * HW;
      float s = 0.0f;
      for (int i = 0; i < HW; ++i) s += g[i];
      dadd[p] = s;
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
