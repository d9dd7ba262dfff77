// The CPU op implementations, one kernel family per file, declared from the
// op table (ddpm/ops.def, which documents their semantics); CpuBackend only
// forwards to these.
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

// The ops (ops.def): the pool first, and for the ops of kind conv the
// precision of their multiplications after it. Where each kernel is:
//   conv2d.cpp          conv2d_*                 conv_transpose.cpp  conv_transpose2x2_*
//   batchnorm.cpp       batchnorm_relu_*         pool_concat.cpp     maxpool2x2_*, pad_concat_*, add_channel_*
//   dense.cpp           linear_*, silu_*, embedding_gather            loss.cpp  mse_forward_backward
//   diffusion.cpp       gaussian, uniform_int, images_to_float, noise_add, reverse_step, clamp
//   ddim.cpp            ddim_step, dpm_solver_step, inpaint_blend, guided_eps   class_embed.cpp  class_embed_*
//   adam.cpp            adam_update, adam_ema_update (ema.h)       ema.cpp  ema_update
//   clip.cpp            clip_grad_norm
#define DDPM_CPU_KERNEL_conv(name, ...) void name(ThreadPool& pool, ConvMath math, DDPM_OP_PARAMS(__VA_ARGS__));
#define DDPM_CPU_KERNEL_act(name, ...) void name(ThreadPool& pool, DDPM_OP_PARAMS(__VA_ARGS__));
#define DDPM_CPU_KERNEL_plain(name, ...) void name(ThreadPool& pool, DDPM_OP_PARAMS(__VA_ARGS__));
#define DDPM_OP(kind, name, flops, ...) DDPM_CPU_KERNEL_##kind(name, __VA_ARGS__)
#include "ddpm/ops.def"
#undef DDPM_CPU_KERNEL_conv
#undef DDPM_CPU_KERNEL_act
#undef DDPM_CPU_KERNEL_plain

}  // namespace cpu
}  // namespace ddpm
