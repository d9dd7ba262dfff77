// The CUDA launchers, one kernel family per file (channel.cu, conv.cu,
// batchnorm.cu, pool_concat.cu, dense.cu, loss.cu, diffusion.cu, adam.cu, ema.cu,
// ddim.cu, class_embed.cu).
// Semantics are those documented in ddpm/backend.h; each launcher validates
// its arguments (throwing ddpm::Error), sizes the grid and enqueues on
// ctx.stream without waiting. CudaBackend only forwards to these.
#pragma once

#include <cublas_v2.h>

#include <cstddef>
#include <cstdint>

#include "bf16.cuh"
#include "common.cuh"
#include "ddpm/backend.h"

namespace ddpm {
namespace cuda {

class ConvEngine;  // conv.h

// Throws ddpm::Error naming the op, the cuBLAS call and its status (dense.cu).
[[noreturn]] void throw_cublas(const char* op, const char* call, cublasStatus_t s);

namespace ops {

// channel.cu: generic per-plane / per-channel helpers.
void fill(const Ctx& ctx, float* dst, float value, size_t n);
// y[n, c, :] += b[c]
void add_bias(const Ctx& ctx, float* y, const float* b, int N, int C, long long HW, const char* op);
// out[c] = sum over (n, hw) of x[n, c, hw] (overwrite), deterministic.
void channel_sum(const Ctx& ctx, const float* x, float* out, int N, int C, long long HW, const char* op);
// out[p] = sum over hw of x[p, hw] for planes p < planes (overwrite).
void plane_sum(const Ctx& ctx, const float* x, float* out, long long planes, long long HW, const char* op);
void add_channel_forward(const Ctx& ctx, const float* x, const float* add, float* y, int N, int C, int HW);
void add_channel_backward(const Ctx& ctx, const float* dy, float* dadd, int N, int C, int HW);

// conv.cu (cuDNN convolutions + the bias kernels above).
void conv2d_forward(const Ctx& ctx, ConvEngine& eng, const float* x, const float* w, const float* b,
                    float* y, int N, int Cin, int H, int W, int Cout, int k);
void conv2d_backward(const Ctx& ctx, ConvEngine& eng, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k);
void conv_transpose2x2_forward(const Ctx& ctx, ConvEngine& eng, const float* x, const float* w,
                               const float* b, float* y, int N, int Cin, int H, int W, int Cout);
void conv_transpose2x2_backward(const Ctx& ctx, ConvEngine& eng, const float* x, const float* w,
                                const float* dy, float* dx, float* dw, float* db, int N, int Cin,
                                int H, int W, int Cout);

// batchnorm.cu
void batchnorm_relu_forward(const Ctx& ctx, const float* x, float* y, const float* gamma,
                            const float* beta, float* running_mean, float* running_var,
                            float* save_mean, float* save_invstd, const float* add, int N, int C,
                            int HW, bool training, float momentum, float eps);
void batchnorm_relu_backward(const Ctx& ctx, const float* x, const float* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd,
                             float* dx, float* dgamma, float* dbeta, float* dadd, int N, int C,
                             int HW);

// pool_concat.cu
void maxpool2x2_forward(const Ctx& ctx, const float* x, float* y, const float* add, int N, int C,
                        int H, int W);
void maxpool2x2_backward(const Ctx& ctx, const float* x, const float* dy, float* dx, float* dadd,
                         int N, int C, int H, int W);
void pad_concat_forward(const Ctx& ctx, const float* up, const float* skip, float* out, int N,
                        int Cu, int Hu, int Wu, int Cs, int Hs, int Ws);
void pad_concat_backward(const Ctx& ctx, const float* dout, float* dup, float* dskip, int N, int Cu,
                         int Hu, int Wu, int Cs, int Hs, int Ws);

// dense.cu (cuBLAS sgemm for Linear)
void linear_forward(const Ctx& ctx, cublasHandle_t h, const float* x, const float* w,
                    const float* b, float* y, int N, int in, int out);
void linear_backward(const Ctx& ctx, cublasHandle_t h, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db, int N, int in, int out);
void silu_forward(const Ctx& ctx, const float* x, float* y, size_t n);
void silu_backward(const Ctx& ctx, const float* x, const float* dy, float* dx, size_t n);
void embedding_gather(const Ctx& ctx, const float* table, const int32_t* t, float* out, int N, int D,
                      int T);

// loss.cu
// sc (device memory, nullable): a recorded step's scalars (step_graph.h),
// read by the kernel in place of the by-value loss / seed / stream / offset /
// Adam constants.
void mse_forward_backward(const Ctx& ctx, const float* pred, const float* target, float* loss,
                          float* grad, size_t n, const StepScalars* sc = nullptr);

// diffusion.cu
void gaussian(const Ctx& ctx, float* out, size_t n, uint64_t seed, uint64_t stream, uint64_t offset,
              const StepScalars* sc = nullptr);
void uniform_int(const Ctx& ctx, int32_t* out, size_t n, int32_t high, uint64_t seed, uint64_t stream,
                 const StepScalars* sc = nullptr);
void images_to_float(const Ctx& ctx, const uint8_t* pixels, const uint8_t* flip, float* out, int N,
                     int C, int H, int W);
void noise_add(const Ctx& ctx, const float* x0, const float* eps, const int32_t* t,
               const float* sqrt_abar, const float* sqrt_one_minus_abar, float* xt, int N,
               size_t per_sample);
void reverse_step(const Ctx& ctx, const float* x_t, const float* eps_theta, float* x_prev, int N,
                  size_t per_sample, float c_x, float c_eps, float sigma, uint64_t seed,
                  uint64_t stream, int64_t first_index);
void clamp(const Ctx& ctx, const float* x, float* out, size_t n, float lo, float hi);

// adam.cu
void adam_update(const Ctx& ctx, float* params, const float* grads, float* m, float* v, size_t n,
                 const AdamParams& p, const StepScalars* sc = nullptr);

// ema.cu (sc: the lerp weight of a recorded step, see loss.cu above)
void ema_update(const Ctx& ctx, float* ema, const float* params, size_t n, double decay,
                const StepScalars* sc = nullptr);

// ddim.cu
void ddim_step(const Ctx& ctx, const float* x_t, const float* eps_theta, float* x_prev, int N,
               size_t per_sample, const DdimCoefficients& k, uint64_t seed, uint64_t stream,
               int64_t first_index);
void guided_eps(const Ctx& ctx, const float* eps_cond, const float* eps_uncond, float* out, size_t n, float w);

// class_embed.cu
void class_embed_add(const Ctx& ctx, const float* table, const int32_t* labels, float* out, int N, int D, int K);
void class_embed_backward(const Ctx& ctx, const float* dout, int slices, const int32_t* labels, float* dtable,
                          int N, int D, int K);

// ---- precision bf16: activations in bf16 channels-last (bf16.cuh) ----------
// Same semantics as the ops above, with every activation argument (see
// Backend::activation_format) an (N, H, W, C) bfloat16 tensor.
namespace nhwc {

// layout.cu
void to_activation(const Ctx& ctx, const float* src, bf16* dst, int N, int C, int HW);
void from_activation(const Ctx& ctx, const bf16* src, float* dst, int N, int C, int HW);
// float32 (K, C, RS) -> bfloat16 (K, RS, C), and back for weight gradients.
void weights_to_krsc(const Ctx& ctx, const float* w, bf16* out, int K, int C, int RS, const char* op);
void weights_from_krsc(const Ctx& ctx, const bf16* w, float* out, int K, int C, int RS, const char* op);

// nhwc_batchnorm.cu
// out[c] = sum over (n, hw) of x (overwrite); out[n*C + c] = sum over hw.
void channel_sum(const Ctx& ctx, const bf16* x, float* out, int N, int C, int HW, const char* op);
void plane_sum(const Ctx& ctx, const bf16* x, float* out, int N, int C, int HW, const char* op);
void batchnorm_relu_forward(const Ctx& ctx, const bf16* x, bf16* y, const float* gamma, const float* beta,
                            float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                            const float* add, int N, int C, int HW, bool training, float momentum, float eps);
void batchnorm_relu_backward(const Ctx& ctx, const bf16* x, const bf16* dy, const float* gamma,
                             const float* beta, const float* save_mean, const float* save_invstd, bf16* dx,
                             float* dgamma, float* dbeta, float* dadd, int N, int C, int HW);

// nhwc_pool_concat.cu
void add_bias(const Ctx& ctx, bf16* y, const float* b, int N, int C, long long HW, const char* op);
void add_channel_forward(const Ctx& ctx, const bf16* x, const float* add, bf16* y, int N, int C, int HW);
void add_channel_backward(const Ctx& ctx, const bf16* dy, float* dadd, int N, int C, int HW);
void maxpool2x2_forward(const Ctx& ctx, const bf16* x, bf16* y, const float* add, int N, int C, int H, int W);
void maxpool2x2_backward(const Ctx& ctx, const bf16* x, const bf16* dy, bf16* dx, float* dadd, int N, int C, int H,
                         int W);
void pad_concat_forward(const Ctx& ctx, const bf16* up, const bf16* skip, bf16* out, int N, int Cu, int Hu, int Wu,
                        int Cs, int Hs, int Ws);
void pad_concat_backward(const Ctx& ctx, const bf16* dout, bf16* dup, bf16* dskip, int N, int Cu, int Hu, int Wu,
                         int Cs, int Hs, int Ws);

// conv.cu (cuDNN in bf16 NHWC; weights converted per call, gradients back to float32)
void conv2d_forward(const Ctx& ctx, ConvEngine& eng, const bf16* x, const float* w, const float* b, bf16* y,
                    int N, int Cin, int H, int W, int Cout, int k);
void conv2d_backward(const Ctx& ctx, ConvEngine& eng, const bf16* x, const float* w, const bf16* dy, bf16* dx,
                     float* dw, float* db, int N, int Cin, int H, int W, int Cout, int k);
void conv_transpose2x2_forward(const Ctx& ctx, ConvEngine& eng, const bf16* x, const float* w, const float* b,
                               bf16* y, int N, int Cin, int H, int W, int Cout);
void conv_transpose2x2_backward(const Ctx& ctx, ConvEngine& eng, const bf16* x, const float* w, const bf16* dy,
                                bf16* dx, float* dw, float* db, int N, int Cin, int H, int W, int Cout);

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
