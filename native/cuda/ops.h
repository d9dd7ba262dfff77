// The CUDA launchers: one per op of the table (ops.def), declared below from
// it, and a bf16 NHWC twin for each op of kind act or conv. Semantics are
// those of ops.def; each launcher validates its arguments (throwing
// ddpm::Error), sizes the grid and enqueues on ctx.stream without waiting.
// CudaBackend only forwards to these. Where each op's kernels are:
//   conv.cu          conv2d_*, conv_transpose2x2_* (cuDNN; both layouts; conv_graph.cu: the
//                    backend graph API's engines)  nhwc_conv1x1_narrow.cu: bf16 1x1 to <= 4 channels
//   batchnorm.cu     batchnorm_relu_*, conv2d_batchnorm_relu_eval (conv, then BN in place)
//                    nhwc_batchnorm.cu: their bf16 twins
//   pool_concat.cu   maxpool2x2_*, pad_concat_*  nhwc_pool_concat.cu  their twins, add_channel_*'s
//   channel.cu       add_channel_*, and the per-plane / per-channel helpers below
//   dense.cu         linear_* (cuBLAS), silu_*, embedding_gather
//   loss.cu          mse_forward_backward
//   diffusion.cu     gaussian, uniform_int, images_to_float, noise_add, reverse_step, clamp
//   ddim.cu          ddim_step, dpm_solver_step, inpaint_blend, guided_eps   class_embed.cu  class_embed_*
//   adam.cu          adam_update, adam_ema_update   ema.cu  ema_update
//   clip.cu          clip_grad_norm
// The ops with per-step scalars (roles step_* of ops.def) read
// ctx.step_scalars when it is set (a recorded step, step_graph.h).
#pragma once

#include <cublas_v2.h>

#include <cstddef>
#include <cstdint>
#include <functional>

#include "bf16.cuh"
#include "common.cuh"
#include "conv_graph.h"
#include "ddpm/backend.h"

namespace ddpm {
namespace cuda {

class ConvEngine;  // conv.h

// Throws ddpm::Error naming the op, the cuBLAS call and its status (dense.cu).
[[noreturn]] void throw_cublas(const char* op, const char* call, cublasStatus_t s);

namespace ops {

// The ops (ops.def).
#define DDPM_OP(kind, name, flops, ...) void name(const Ctx& ctx, DDPM_OP_PARAMS(__VA_ARGS__));
#include "ddpm/ops.def"

// channel.cu: generic per-plane / per-channel helpers.
void fill(const Ctx& ctx, float* dst, float value, size_t n);
// y[n, c, :] += b[c]
void add_bias(const Ctx& ctx, float* y, const float* b, int N, int C, long long HW, const char* op);
// out[c] = sum over (n, hw) of x[n, c, hw] (overwrite), deterministic.
void channel_sum(const Ctx& ctx, const float* x, float* out, int N, int C, long long HW, const char* op);
// out[p] = sum over hw of x[p, hw] for planes p < planes (overwrite).
void plane_sum(const Ctx& ctx, const float* x, float* out, long long planes, long long HW, const char* op);

// ---- precision bf16: activations in bf16 channels-last (bf16.cuh) ----------
// Same semantics as the ops above, with every activation argument (see
// Backend::activation_format) an (N, H, W, C) bfloat16 tensor.
namespace nhwc {

// The ops of kind act and conv (ops.def), activation arguments as bf16 pointers.
#define DDPM_NHWC_TWIN_act(name, ...) void name(const Ctx& ctx, DDPM_OP_NHWC_PARAMS(__VA_ARGS__));
#define DDPM_NHWC_TWIN_conv(name, ...) DDPM_NHWC_TWIN_act(name, __VA_ARGS__)
#define DDPM_NHWC_TWIN_plain(name, ...)
#define DDPM_OP(kind, name, flops, ...) DDPM_NHWC_TWIN_##kind(name, __VA_ARGS__)
#include "ddpm/ops.def"
#undef DDPM_NHWC_TWIN_act
#undef DDPM_NHWC_TWIN_conv
#undef DDPM_NHWC_TWIN_plain

// layout.cu
void to_activation(const Ctx& ctx, const float* src, bf16* dst, int N, int C, int HW);
void from_activation(const Ctx& ctx, const bf16* src, float* dst, int N, int C, int HW);
// float32 (K, C, RS) -> bfloat16 (K, RS, Cp), and back for weight gradients;
// Cp (at least C) pads the KRSC side with zero channels (the first layer on
// cuDNN, conv.cu), which the way back skips.
void weights_to_krsc(const Ctx& ctx, const float* w, bf16* out, int K, int C, int RS, const char* op, int Cp = 0);
void weights_from_krsc(const Ctx& ctx, const bf16* w, float* out, int K, int C, int RS, const char* op, int Cp = 0);
// An NHWC tensor of P pixels from Csrc channels to Cdst: the first ones
// copied, zeros past Csrc (padding a narrow tensor, or taking its channels back).
void copy_channels(const Ctx& ctx, const bf16* src, bf16* dst, long long P, int Csrc, int Cdst, const char* op);

// nhwc_batchnorm.cu
// out[c] = sum over (n, hw) of x (overwrite); out[n*C + c] = sum over hw.
void channel_sum(const Ctx& ctx, const bf16* x, float* out, int N, int C, int HW, const char* op);
void plane_sum(const Ctx& ctx, const bf16* x, float* out, int N, int C, int HW, const char* op);

// nhwc_pool_concat.cu
void add_bias(const Ctx& ctx, bf16* y, const float* b, int N, int C, long long HW, const char* op);

// conv.cu: conv2d_forward without a bias, then `post` over y (the caller's
// pass: a bias, an eval BatchNorm); or, where DDPM_CUDNN_FUSED=1 finds one
// faster, the convolution with `epilogue` (the same maths, with
// epilogue_tensors' scale / shift / add) as one cuDNN graph (ConvEngine::forward_fused).
void conv2d_forward_epilogue(const Ctx& ctx, const bf16* x, const float* w, bf16* y, int N, int Cin, int H, int W,
                             int Cout, int k, const ConvEpilogue& epilogue, const ConvPointers& epilogue_tensors,
                             const std::function<void(bf16* y)>& post);

// nhwc_conv1x1_narrow.cu: the 1x1 convolution to at most 4 channels (the
// output layer) without cuDNN, when Cin is a multiple of 8 (at most 1024)
// and the bf16 tensors are 16-byte aligned.
bool conv1x1_narrow_applies(int Cin, int Cout, std::initializer_list<const void*> bf16_ptrs);
void conv1x1_narrow_forward(const Ctx& ctx, const bf16* x, const float* w, const float* b, bf16* y, int N, int Cin,
                            int HW, int Cout);
// dx may be nullptr; dw overwritten; db (overwrite) may be nullptr.
void conv1x1_narrow_backward(const Ctx& ctx, const bf16* x, const float* w, const bf16* dy, bf16* dx, float* dw,
                             float* db, int N, int Cin, int HW, int Cout);

// nhwc_conv_small_cin.cu: the 3x3 convolution from at most 4 input channels
// (the first layer) on CUDA cores, when Cout is a multiple of 8 (at most
// 256) and the bf16 tensors named are 16-byte aligned. dw is overwritten in
// float32 (K, C, 3, 3).
bool conv_small_cin_applies(int Cin, int Cout, int k, std::initializer_list<const void*> bf16_ptrs);
void conv_small_cin_forward(const Ctx& ctx, const bf16* x, const float* w, bf16* y, int N, int Cin, int H, int W,
                            int Cout);
void conv_small_cin_backward_data(const Ctx& ctx, const float* w, const bf16* dy, bf16* dx, int N, int Cin, int H,
                                  int W, int Cout);
void conv_small_cin_backward_filter(const Ctx& ctx, const bf16* x, const bf16* dy, float* dw, int N, int Cin, int H,
                                    int W, int Cout);

}  // namespace nhwc
}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
