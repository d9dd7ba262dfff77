// How to read the op table (ops.def) and the macros that turn one of its
// entries into code. Every op of ddpm::Backend is one entry there:
//
//   DDPM_OP(kind, name, flops, (role, argument[, shape...]), ...)
//
//   kind   act    the op takes activations (Backend::activation_format): the
//                 CUDA backend in precision bf16 runs its bf16 NHWC twin;
//          conv   an act op that multiplies in the precision (its weight
//                 argument as bfloat16 in precision bf16): the CPU kernel also
//                 takes the backend's ConvMath, the CUDA launcher uses the
//                 backend's cuDNN engine (ctx.conv) in that precision;
//          plain  every argument is float32 (or int, bytes) in every precision.
//   flops  floating-point operations of one call (multiply-add = 2), an
//          expression in the op's arguments; 0 where not meaningful.
//   the arguments, in the order of the C++ signature, each with its role:
//
//   role          C++ type               what the op does with it
//   act_in        const float*           reads an activation; shape (N, C, HW) follows the name
//   act_out       float*                 overwrites an activation (N, C, HW)
//   act_out_opt   float*                 the same; nullptr: not computed
//   act_acc       float*                 adds into an activation (N, C, HW): out += result
//   in            const float*           reads a float32 tensor; its element count follows the name
//   in_opt        const float*           the same, nullable
//   weight        const float*           reads a convolution weight (count); precision bf16
//                                        multiplies it as bfloat16
//   out           float*                 overwrites a float32 tensor (count)
//   out_opt       float*                 the same, nullable
//   acc           float*                 adds into a float32 tensor (count)
//   inout         float*                 reads and updates a float32 tensor in place (count)
//   i32_in        const int32_t*         reads int32 values (count): timesteps, labels
//   i32_out       int32_t*               overwrites int32 values (count)
//   u8_in         const uint8_t*         reads bytes (count): pixels
//   u8_in_opt     const uint8_t*         the same, nullable: per-sample flags
//   int size float bool u64 i64          a value: int, size_t, float, bool, uint64_t, int64_t
//   Inside a recorded step (Backend::step_begin: a training step, a sampler's
//   reverse step) only these may change from one step to the next; they are
//   not part of the step's op signature:
//   step_loss     float*                 overwrites one float (count 1) at an address that moves
//   step_seed step_stream step_offset    uint64_t: the random stream's seed, stream, offset
//   step_first    int64_t                a sampler step's first sample index (its noise's place)
//   step_adam     const AdamParams&      the Adam step (its bias correction moves)
//   step_decay    double                 the EMA decay (its warm-up moves)
//   step_cx step_ceps step_sigma  float  the ancestral step's coefficients (they move with t)
//   step_known_a step_known_b     float  inpaint_blend's coefficients (they move with t)
//   step_ddim     const DdimCoefficients&       a DDIM / posterior step's coefficients
//   step_dpm      const DpmSolverCoefficients&  a DPM-Solver++ step's coefficients
//
// Counts are products of the op's arguments, evaluated in size_t; a count
// of 0 means the op's arguments do not determine it (a table indexed by
// another tensor's values).
//
// From the table come: the Backend pure virtuals (backend.h), the CPU kernel
// and CUDA launcher declarations (cpu/cpu_ops.h, cuda/ops.h), the CPU and
// CUDA backends' forwarders, the per-op call records (op_calls.h: the
// profiler, the step signatures, the backend-vs-CPU op tests).
#pragma once

#include <cstddef>
#include <cstdint>

// ---- one argument: its role as a tuple ---------------------------------------------------
// (role, name, ...) -> (C++ type, type under bf16 NHWC, cast, spec, step slot, name, shape):
//   cast       act: the bf16 NHWC twin takes it as bf16 storage; same: unchanged
//   spec       the ddpm::op_roles constant that describes it (op_calls.h)
//   step slot  none, or the per-step scalar of a recorded step it fills (op_calls.h)
//   shape      a ddpm::OpShape expression
#define DDPM_ROLE_act_in(n, N, C, HW) (const float*, const bf16*, act, act_in, none, n, ::ddpm::OpShape(N, C, HW))
#define DDPM_ROLE_act_out(n, N, C, HW) (float*, bf16*, act, act_out, none, n, ::ddpm::OpShape(N, C, HW))
#define DDPM_ROLE_act_out_opt(n, N, C, HW) (float*, bf16*, act, act_out_opt, none, n, ::ddpm::OpShape(N, C, HW))
#define DDPM_ROLE_act_acc(n, N, C, HW) (float*, bf16*, act, act_acc, none, n, ::ddpm::OpShape(N, C, HW))
#define DDPM_ROLE_in(n, count) (const float*, const float*, same, in, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_in_opt(n, count) (const float*, const float*, same, in_opt, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_weight(n, count) (const float*, const float*, same, weight, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_out(n, count) (float*, float*, same, out, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_out_opt(n, count) (float*, float*, same, out_opt, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_acc(n, count) (float*, float*, same, acc, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_inout(n, count) (float*, float*, same, inout, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_i32_in(n, count) (const int32_t*, const int32_t*, same, i32_in, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_i32_out(n, count) (int32_t*, int32_t*, same, i32_out, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_u8_in(n, count) (const uint8_t*, const uint8_t*, same, u8_in, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_u8_in_opt(n, count) (const uint8_t*, const uint8_t*, same, u8_in_opt, none, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_step_loss(n, count) (float*, float*, same, step_loss, loss, n, ::ddpm::OpShape(size_t{1} * count))
#define DDPM_ROLE_int(n) (int, int, same, value, none, n, ::ddpm::OpShape())
#define DDPM_ROLE_size(n) (size_t, size_t, same, value, none, n, ::ddpm::OpShape())
#define DDPM_ROLE_float(n) (float, float, same, value, none, n, ::ddpm::OpShape())
#define DDPM_ROLE_bool(n) (bool, bool, same, value, none, n, ::ddpm::OpShape())
#define DDPM_ROLE_u64(n) (uint64_t, uint64_t, same, value, none, n, ::ddpm::OpShape())
#define DDPM_ROLE_i64(n) (int64_t, int64_t, same, value, none, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_seed(n) (uint64_t, uint64_t, same, step_value, seed, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_stream(n) (uint64_t, uint64_t, same, step_value, stream, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_offset(n) (uint64_t, uint64_t, same, step_value, offset, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_adam(n) (const AdamParams&, const AdamParams&, same, step_value, adam, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_decay(n) (double, double, same, step_value, decay, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_first(n) (int64_t, int64_t, same, step_value, first, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_cx(n) (float, float, same, step_value, cx, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_ceps(n) (float, float, same, step_value, ceps, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_sigma(n) (float, float, same, step_value, sigma, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_known_a(n) (float, float, same, step_value, known_a, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_known_b(n) (float, float, same, step_value, known_b, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_ddim(n) (const DdimCoefficients&, const DdimCoefficients&, same, step_value, ddim, n, ::ddpm::OpShape())
#define DDPM_ROLE_step_dpm(n) (const DpmSolverCoefficients&, const DpmSolverCoefficients&, same, step_value, dpm, n, ::ddpm::OpShape())

#define DDPM_ARG_TUPLE(arg) DDPM_ARG_TUPLE_I arg
#define DDPM_ARG_TUPLE_I(role, ...) DDPM_ROLE_##role(__VA_ARGS__)

// ---- what each use makes of an argument's tuple ------------------------------------------------
#define DDPM_ARG_PARAM(arg) DDPM_ARG_APPLY(DDPM_ARG_PARAM_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_PARAM_I(type, nhwc_type, cast, spec, step, name, shape) type name
#define DDPM_ARG_NAME(arg) DDPM_ARG_APPLY(DDPM_ARG_NAME_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_NAME_I(type, nhwc_type, cast, spec, step, name, shape) name
#define DDPM_ARG_NHWC_PARAM(arg) DDPM_ARG_APPLY(DDPM_ARG_NHWC_PARAM_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_NHWC_PARAM_I(type, nhwc_type, cast, spec, step, name, shape) nhwc_type name
#define DDPM_ARG_NHWC_NAME(arg) DDPM_ARG_APPLY(DDPM_ARG_NHWC_NAME_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_NHWC_NAME_I(type, nhwc_type, cast, spec, step, name, shape) DDPM_CAST_##cast(nhwc_type, name)
#define DDPM_CAST_act(nhwc_type, name) reinterpret_cast<nhwc_type>(name)
#define DDPM_CAST_same(nhwc_type, name) name
#define DDPM_ARG_MEMBER(arg) DDPM_ARG_APPLY(DDPM_ARG_MEMBER_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_MEMBER_I(type, nhwc_type, cast, spec, step, name, shape) std::decay_t<type> name;
#define DDPM_ARG_VISIT(arg) DDPM_ARG_APPLY(DDPM_ARG_VISIT_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_VISIT_I(type, nhwc_type, cast, spec, step, name, shape) \
  visit(::ddpm::OpArg{#name, ::ddpm::op_roles::spec, shape}, name);
// The argument's spec, to count the arguments with a property (op_calls.h).
#define DDPM_ARG_SPEC(arg) DDPM_ARG_APPLY(DDPM_ARG_SPEC_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_SPEC_I(type, nhwc_type, cast, spec, step, name, shape) ::ddpm::op_roles::spec,
// The per-step scalars of a recorded step (the CUDA backend's StepScalars)
// that an argument fills, into `slots`.
#define DDPM_ARG_STEP_SET(arg) DDPM_ARG_APPLY(DDPM_ARG_STEP_SET_I, DDPM_ARG_TUPLE(arg))
#define DDPM_ARG_STEP_SET_I(type, nhwc_type, cast, spec, step, name, shape) DDPM_STEP_SET_##step(name)
#define DDPM_STEP_SET_none(name)
#define DDPM_STEP_SET_seed(name) slots.seed = name;
#define DDPM_STEP_SET_stream(name) slots.stream = name;
#define DDPM_STEP_SET_offset(name) slots.offset = name;
#define DDPM_STEP_SET_loss(name) slots.loss = name;
#define DDPM_STEP_SET_adam(name) slots.adam = ::ddpm::adam_constants(name);
#define DDPM_STEP_SET_decay(name) slots.ema_weight = ::ddpm::ema_weight(name);
#define DDPM_STEP_SET_first(name) slots.first_index = name;
#define DDPM_STEP_SET_cx(name) slots.c_x = name;
#define DDPM_STEP_SET_ceps(name) slots.c_eps = name;
#define DDPM_STEP_SET_sigma(name) slots.sigma = name;
#define DDPM_STEP_SET_known_a(name) slots.known_a = name;
#define DDPM_STEP_SET_known_b(name) slots.known_b = name;
#define DDPM_STEP_SET_ddim(name) slots.ddim = name;
#define DDPM_STEP_SET_dpm(name) slots.dpm = name;

#define DDPM_ARG_APPLY(m, tuple) DDPM_PP_EXPAND(m tuple)

// ---- over all arguments of an entry ----------------------------------------------------------
#define DDPM_OP_PARAMS(...) DDPM_PP_MAP(DDPM_ARG_PARAM, DDPM_PP_COMMA, __VA_ARGS__)
#define DDPM_OP_ARGS(...) DDPM_PP_MAP(DDPM_ARG_NAME, DDPM_PP_COMMA, __VA_ARGS__)
#define DDPM_OP_NHWC_PARAMS(...) DDPM_PP_MAP(DDPM_ARG_NHWC_PARAM, DDPM_PP_COMMA, __VA_ARGS__)
#define DDPM_OP_NHWC_ARGS(...) DDPM_PP_MAP(DDPM_ARG_NHWC_NAME, DDPM_PP_COMMA, __VA_ARGS__)
#define DDPM_OP_MEMBERS(...) DDPM_PP_MAP(DDPM_ARG_MEMBER, DDPM_PP_NOTHING, __VA_ARGS__)
#define DDPM_OP_VISIT(...) DDPM_PP_MAP(DDPM_ARG_VISIT, DDPM_PP_NOTHING, __VA_ARGS__)
#define DDPM_OP_SPECS(...) DDPM_PP_MAP(DDPM_ARG_SPEC, DDPM_PP_NOTHING, __VA_ARGS__)
#define DDPM_OP_STEP_SET(...) DDPM_PP_MAP(DDPM_ARG_STEP_SET, DDPM_PP_NOTHING, __VA_ARGS__)

// ---- preprocessor plumbing: m(a1) sep() m(a2) sep() ... for up to 20 arguments ------------------
#define DDPM_PP_EXPAND(...) __VA_ARGS__
#define DDPM_PP_COMMA() ,
#define DDPM_PP_NOTHING()
#define DDPM_PP_CAT(a, b) DDPM_PP_CAT_I(a, b)
#define DDPM_PP_CAT_I(a, b) a##b
#define DDPM_PP_COUNT(...) \
  DDPM_PP_COUNT_I(__VA_ARGS__, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define DDPM_PP_COUNT_I(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, \
                        n, ...)                                                                                    \
  n
#define DDPM_PP_MAP(m, sep, ...) DDPM_PP_CAT(DDPM_PP_MAP_, DDPM_PP_COUNT(__VA_ARGS__))(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_1(m, sep, a) m(a)
#define DDPM_PP_MAP_2(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_1(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_3(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_2(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_4(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_3(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_5(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_4(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_6(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_5(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_7(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_6(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_8(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_7(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_9(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_8(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_10(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_9(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_11(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_10(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_12(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_11(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_13(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_12(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_14(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_13(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_15(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_14(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_16(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_15(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_17(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_16(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_18(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_17(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_19(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_18(m, sep, __VA_ARGS__)
#define DDPM_PP_MAP_20(m, sep, a, ...) m(a) sep() DDPM_PP_MAP_19(m, sep, __VA_ARGS__)
