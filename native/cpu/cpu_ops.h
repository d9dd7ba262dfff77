// The CPU op implementations, one kernel family per file (conv2d.cpp,
// conv_transpose.cpp, batchnorm.cpp, pool_concat.cpp, dense.cpp, loss.cpp,
// diffusion.cpp, adam.cpp, ema.cpp, ddim.cpp, class_embed.cpp). Semantics are those documented in
// ddpm/backend.h; CpuBackend only forwards to these.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ddpm/backend.h"
#include "thread_pool.h"

namespace ddpm {
namespace cpu {

// How the convolutions multiply (the CPU backend's precision): in float32,
// or with both operands rounded to bfloat16 and the products summed in
// float32 (gemm.h: GemmProblem::bf16). Tensors are float32 NCHW either way.
enum class ConvMath { kFloat32, kBf16 };

// conv2d.cpp
void conv2d_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* b,
                    float* y, int N, int Cin, int H, int W, int Cout, int k);
void conv2d_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k);

// conv_transpose.cpp
void conv_transpose2x2_forward(ThreadPool& pool, ConvMath math, const float* x, const float* w,
                               const float* b, float* y, int N, int Cin, int H, int W, int Cout);
void conv_transpose2x2_backward(ThreadPool& pool, ConvMath math, const float* x, const float* w,
                                const float* dy, float* dx, float* dw, float* db, int N, int Cin,
                                int H, int W, int Cout);

// batchnorm.cpp
void batchnorm_relu_forward(ThreadPool& pool, const float* x, float* y, const float* gamma,
                            const float* beta, float* running_mean, float* running_var,
                            float* save_mean, float* save_invstd, const float* add, int N, int C,
                            int HW, bool training, float momentum, float eps);
void batchnorm_relu_backward(ThreadPool& pool, const float* x, const float* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd,
                             float* dx, float* dgamma, float* dbeta, float* dadd, int N, int C,
                             int HW);

// pool_concat.cpp
void maxpool2x2_forward(ThreadPool& pool, const float* x, float* y, const float* add, int N, int C,
                        int H, int W);
void maxpool2x2_backward(ThreadPool& pool, const float* x, const float* dy, float* dx, float* dadd,
                         int N, int C, int H, int W);
void pad_concat_forward(ThreadPool& pool, const float* up, const float* skip, float* out, int N,
                        int Cu, int Hu, int Wu, int Cs, int Hs, int Ws);
void pad_concat_backward(ThreadPool& pool, const float* dout, float* dup, float* dskip, int N,
                         int Cu, int Hu, int Wu, int Cs, int Hs, int Ws);
void add_channel_forward(ThreadPool& pool, const float* x, const float* add, float* y, int N, int C,
                         int HW);
void add_channel_backward(ThreadPool& pool, const float* dy, float* dadd, int N, int C, int HW);

// dense.cpp
void linear_forward(ThreadPool& pool, const float* x, const float* w, const float* b, float* y,
                    int N, int in, int out);
void linear_backward(ThreadPool& pool, const float* x, const float* w, const float* dy, float* dx,
                     float* dw, float* db, int N, int in, int out);
void silu_forward(ThreadPool& pool, const float* x, float* y, size_t n);
void silu_backward(ThreadPool& pool, const float* x, const float* dy, float* dx, size_t n);
void embedding_gather(ThreadPool& pool, const float* table, const int32_t* t, float* out, int N,
                      int D, int T);

// loss.cpp
void mse_forward_backward(ThreadPool& pool, const float* pred, const float* target, float* loss,
                          float* grad, size_t n);

// diffusion.cpp
void gaussian(ThreadPool& pool, float* out, size_t n, uint64_t seed, uint64_t stream,
              uint64_t offset);
void uniform_int(ThreadPool& pool, int32_t* out, size_t n, int32_t high, uint64_t seed,
                 uint64_t stream);
void images_to_float(ThreadPool& pool, const uint8_t* pixels, const uint8_t* flip, float* out,
                     int N, int C, int H, int W);
void noise_add(ThreadPool& pool, const float* x0, const float* eps, const int32_t* t,
               const float* sqrt_abar, const float* sqrt_one_minus_abar, float* xt, int N,
               size_t per_sample);
void reverse_step(ThreadPool& pool, const float* x_t, const float* eps_theta, float* x_prev, int N,
                  size_t per_sample, float c_x, float c_eps, float sigma, uint64_t seed,
                  uint64_t stream, int64_t first_index);
void clamp(ThreadPool& pool, const float* x, float* out, size_t n, float lo, float hi);

// adam.cpp
void adam_update(ThreadPool& pool, float* params, const float* grads, float* m, float* v, size_t n,
                 const AdamParams& p);

// ema.cpp
void ema_update(ThreadPool& pool, float* ema, const float* params, size_t n, double decay);

// ddim.cpp
void ddim_step(ThreadPool& pool, const float* x_t, const float* eps_theta, float* x_prev, int N,
               size_t per_sample, const DdimCoefficients& k, uint64_t seed, uint64_t stream,
               int64_t first_index);
void guided_eps(ThreadPool& pool, const float* eps_cond, const float* eps_uncond, float* out, size_t n,
                float w);

// class_embed.cpp
void class_embed_add(ThreadPool& pool, const float* table, const int32_t* labels, float* out, int N, int D,
                     int K);
void class_embed_backward(ThreadPool& pool, const float* dout, int slices, const int32_t* labels, float* dtable,
                          int N, int D, int K);

}  // namespace cpu
}  // namespace ddpm
