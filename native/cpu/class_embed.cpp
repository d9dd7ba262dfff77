// The learned class embedding of a class-conditional UNet: a row of a
// (K, D) table added to each sample's time-embedding row, and its gradient
// (a scatter-add of the rows' gradients by label, summed in a fixed order).
#include <string>

#include "cpu_ops.h"

namespace ddpm {
namespace cpu {
namespace {

void check_labels(const char* op, const int32_t* labels, int N, int K) {
  if (K <= 0) throw Error(std::string(op) + ": K must be positive, got " + std::to_string(K));
  for (int n = 0; n < N; ++n)
    if (labels[n] < 0 || labels[n] >= K)
      throw Error(std::string(op) + ": label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) +
                  " is outside [0, " + std::to_string(K) + ")");
}

}  // namespace

void class_embed_add(ThreadPool& pool, const float* table, const int32_t* labels, float* out, int N, int D,
                     int K) {
  check_labels("class_embed_add", labels, N, K);
  pool.parallel_for(N, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const float* row = table + static_cast<int64_t>(labels[n]) * D;
      float* o = out + n * D;
      for (int d = 0; d < D; ++d) o[d] += row[d];
    }
  });
}

void class_embed_backward(ThreadPool& pool, const float* dout, int slices, const int32_t* labels, float* dtable,
                          int N, int D, int K) {
  check_labels("class_embed_backward", labels, N, K);
  if (slices < 1) throw Error("class_embed_backward: slices must be >= 1, got " + std::to_string(slices));
  const int64_t slice = static_cast<int64_t>(N) * D;
  pool.parallel_for(K, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      float* row = dtable + k * D;
      for (int d = 0; d < D; ++d) row[d] = 0.0f;
      for (int s = 0; s < slices; ++s)
        for (int n = 0; n < N; ++n) {
          if (labels[n] != k) continue;
          const float* g = dout + s * slice + static_cast<int64_t>(n) * D;
          for (int d = 0; d < D; ++d) row[d] += g[d];
        }
    }
  });
}

}  // namespace cpu
}  // namespace ddpm
