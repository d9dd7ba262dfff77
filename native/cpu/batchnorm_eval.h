// BatchNorm in eval mode as a per-channel affine map followed by the ReLU and
// the per-sample channel add: y = relu(x * scale[c] + shift[c]) + add[n, c].
// batchnorm_relu_forward (eval) applies it to whole planes;
// conv2d_batchnorm_relu_eval to each output tile as the convolution finishes
// it. Both go through these two functions (batchnorm.cpp), compiled once, so
// their bits agree.
#pragma once

#include <cstdint>
#include <vector>

#include "simd.h"

namespace ddpm {
namespace cpu {

// scale[c] = gamma[c] / sqrt(running_var[c] + eps),
// shift[c] = beta[c] - running_mean[c] * scale[c], for c < C.
void batchnorm_eval_affine(const float* gamma, const float* beta, const float* running_mean,
                           const float* running_var, float eps, int C, float* scale, float* shift);

// y[i] = relu(x[i] * scale + shift) + a for i < n; y may be x.
void scale_shift_relu_add(const float* x, float* y, int64_t n, float scale, float shift, float a);
// The same in place on rows r < rows of a tile (ld apart), row r with
// scale[r], shift[r] and add[r] (add nullable: 0).
void scale_shift_relu_add_rows(float* y, int64_t ld, int rows, int64_t len, const float* scale, const float* shift,
                               const float* add);

#if defined(DDPM_X86)
// 16 values of scale_shift_relu_add, for kernels that apply it in registers
// (the same operations, so the same bits).
__attribute__((target(DDPM_AVX512), always_inline)) inline __m512 bn_relu_add16(__m512 x, float scale, float shift,
                                                                               float a) {
  const __m512 v = _mm512_fmadd_ps(x, _mm512_set1_ps(scale), _mm512_set1_ps(shift));
  const __mmask16 positive = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
  return _mm512_add_ps(_mm512_maskz_mov_ps(positive, v), _mm512_set1_ps(a));
}
#endif

// The eval-mode BatchNorm + ReLU + add of an (N, C, HW) output, applied in
// place to runs of one channel's pixels of one sample.
struct ChannelEpilogue {
  std::vector<float> scale, shift;  // C each
  const float* add;                 // (N, C) or nullptr
  int C;
  int64_t HW;

  // Channels [c0, c0 + rows) of sample n, len pixels each from out, rows ld apart.
  void apply(float* out, int64_t ld, int rows, int64_t len, int64_t n, int64_t c0) const {
    scale_shift_relu_add_rows(out, ld, rows, len, scale.data() + c0, shift.data() + c0, add ? add + n * C + c0 : nullptr);
  }
};

}  // namespace cpu
}  // namespace ddpm
