// One record type per op of the table (ops.def): ddpm::calls::<op> holds the
// arguments of one call, can make the call on any backend, and describes each
// argument (its role and shape) and the call's FLOPs and bytes. What is
// written generically over all ops uses these: the profiling decorator, the
// CUDA backend's step signatures and per-step scalars, the backend-vs-CPU op
// tests (tests/test_backend_ops.cpp).
//
//   calls::conv2d_forward c{x, w, b, y, N, Cin, H, W, Cout, k};
//   c.run(backend);                        // backend.conv2d_forward(x, w, ...)
//   c.for_each_arg([](const OpArg& a, const auto& value) { ... });
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "ddpm/backend.h"

namespace ddpm {

// What an op does with one argument (the roles of op_table.h).
struct ArgSpec {
  enum class Use : uint8_t {
    kValue,       // a value (int, float, a coefficient struct)
    kRead,        // a tensor the op reads
    kWrite,       // a tensor the op overwrites
    kAccumulate,  // a tensor the op adds into
    kUpdate,      // a tensor the op reads and updates in place
  };
  enum class Elem : uint8_t { kNone, kF32, kI32, kU8 };
  Use use;
  Elem elem;
  bool activation;    // stored in the backend's activation format (Backend::activation_format)
  bool nullable;      // nullptr allowed: an optional input, or an output not wanted
  bool bf16_operand;  // multiplied as bfloat16 in precision bf16 (convolution weights)
  bool per_step;      // may change between the recorded steps of one (owner, key)

  bool tensor() const { return use != Use::kValue; }
  bool written() const { return use == Use::kWrite || use == Use::kAccumulate || use == Use::kUpdate; }
};

namespace op_roles {
using U = ArgSpec::Use;
using E = ArgSpec::Elem;
//                                 use            elem    act    null   bf16op step
inline constexpr ArgSpec act_in{U::kRead, E::kF32, true, false, false, false};
inline constexpr ArgSpec act_out{U::kWrite, E::kF32, true, false, false, false};
inline constexpr ArgSpec act_out_opt{U::kWrite, E::kF32, true, true, false, false};
inline constexpr ArgSpec act_acc{U::kAccumulate, E::kF32, true, false, false, false};
inline constexpr ArgSpec in{U::kRead, E::kF32, false, false, false, false};
inline constexpr ArgSpec in_opt{U::kRead, E::kF32, false, true, false, false};
inline constexpr ArgSpec weight{U::kRead, E::kF32, false, false, true, false};
inline constexpr ArgSpec out{U::kWrite, E::kF32, false, false, false, false};
inline constexpr ArgSpec out_opt{U::kWrite, E::kF32, false, true, false, false};
inline constexpr ArgSpec acc{U::kAccumulate, E::kF32, false, false, false, false};
inline constexpr ArgSpec inout{U::kUpdate, E::kF32, false, false, false, false};
inline constexpr ArgSpec i32_in{U::kRead, E::kI32, false, false, false, false};
inline constexpr ArgSpec i32_out{U::kWrite, E::kI32, false, false, false, false};
inline constexpr ArgSpec u8_in{U::kRead, E::kU8, false, false, false, false};
inline constexpr ArgSpec u8_in_opt{U::kRead, E::kU8, false, true, false, false};
inline constexpr ArgSpec step_loss{U::kWrite, E::kF32, false, false, false, true};
inline constexpr ArgSpec value{U::kValue, E::kNone, false, false, false, false};
inline constexpr ArgSpec step_value{U::kValue, E::kNone, false, false, false, true};
}  // namespace op_roles

// A tensor argument's extent: an activation (N, C, HW), or a flat count.
struct OpShape {
  size_t elements = 0;
  int N = 0, C = 0, HW = 0;  // activations only
  OpShape() = default;
  explicit OpShape(size_t count) : elements(count) {}
  OpShape(int n, int c, int hw) : elements(static_cast<size_t>(n) * c * hw), N(n), C(c), HW(hw) {}
};

// How many of an op's arguments have a property.
constexpr int count_args(const ArgSpec* specs, int n, bool ArgSpec::*property) {
  int c = 0;
  for (int i = 0; i < n; ++i) c += (specs[i].*property) ? 1 : 0;
  return c;
}

// One argument of a call, as for_each_arg presents it with its value.
struct OpArg {
  const char* name;
  ArgSpec spec;
  OpShape shape;
};

namespace calls {

#define DDPM_OP(kind, op, op_flops, ...)                                                                  \
  struct op {                                                                                             \
    static constexpr const char* name = #op;                                                              \
    static constexpr ArgSpec arg_specs[] = {DDPM_OP_SPECS(__VA_ARGS__)};                                  \
    static constexpr int num_args = static_cast<int>(sizeof(arg_specs) / sizeof(arg_specs[0]));           \
    static constexpr bool activation_op = count_args(arg_specs, num_args, &ArgSpec::activation) > 0;      \
    static constexpr bool precision_math = count_args(arg_specs, num_args, &ArgSpec::bf16_operand) > 0;   \
    static constexpr int per_step_args = count_args(arg_specs, num_args, &ArgSpec::per_step);             \
    DDPM_OP_MEMBERS(__VA_ARGS__)                                                                          \
    void run(Backend& backend) const { backend.op(DDPM_OP_ARGS(__VA_ARGS__)); }                           \
    double flops() const { return op_flops; }                                                             \
    template <typename Visit>                                                                             \
    void for_each_arg(Visit&& visit) const {                                                              \
      DDPM_OP_VISIT(__VA_ARGS__)                                                                          \
    }                                                                                                     \
    template <typename Visit>                                                                             \
    void for_each_arg(Visit&& visit) {                                                                    \
      DDPM_OP_VISIT(__VA_ARGS__)                                                                          \
    }                                                                                                     \
    /* A recorded step's per-step scalars (the CUDA backend's StepScalars). */                            \
    template <typename Slots>                                                                             \
    void set_step_scalars([[maybe_unused]] Slots& slots) const {                                          \
      DDPM_OP_STEP_SET(__VA_ARGS__)                                                                       \
    }                                                                                                     \
  };                                                                                                      \
  static_assert(op::activation_op == DDPM_OP_KIND_ACT_##kind,                                             \
                "ops.def: " #op " must be of kind act or conv exactly when it has act_* arguments");        \
  static_assert(op::precision_math == DDPM_OP_KIND_CONV_##kind,                                           \
                "ops.def: " #op " must be of kind conv exactly when it has a weight argument");
#define DDPM_OP_KIND_ACT_act true
#define DDPM_OP_KIND_ACT_conv true
#define DDPM_OP_KIND_ACT_plain false
#define DDPM_OP_KIND_CONV_act false
#define DDPM_OP_KIND_CONV_conv true
#define DDPM_OP_KIND_CONV_plain false
#include "ddpm/ops.def"
#undef DDPM_OP_KIND_ACT_act
#undef DDPM_OP_KIND_ACT_conv
#undef DDPM_OP_KIND_ACT_plain
#undef DDPM_OP_KIND_CONV_act
#undef DDPM_OP_KIND_CONV_conv
#undef DDPM_OP_KIND_CONV_plain

}  // namespace calls

// Bytes a call must move at the least: every tensor argument read once and/or
// written once (accumulated and updated ones both), activations at
// activation_bytes per element.
template <typename Call>
double op_bytes(const Call& call, size_t activation_bytes) {
  double bytes = 0;
  call.for_each_arg([&](const OpArg& a, const auto& value) {
    if constexpr (std::is_pointer_v<std::decay_t<decltype(value)>>) {
      if (!value) return;
      const double per = a.spec.activation ? static_cast<double>(activation_bytes)
                         : a.spec.elem == ArgSpec::Elem::kU8 ? 1.0
                                                             : 4.0;
      const bool both = a.spec.use == ArgSpec::Use::kAccumulate || a.spec.use == ArgSpec::Use::kUpdate;
      bytes += per * static_cast<double>(a.shape.elements) * (both ? 2 : 1);
    }
  });
  return bytes;
}

// "N=8 Cin=64 H=32 W=32 Cout=64 k=3": the call's integer and flag arguments,
// then the optional tensors it leaves out ("no dx").
template <typename Call>
std::string op_shape(const Call& call) {
  std::string s, missing;
  call.for_each_arg([&](const OpArg& a, const auto& value) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_pointer_v<T>) {
      if (!value && a.spec.nullable) missing += std::string(missing.empty() ? " no " : ", ") + a.name;
    } else if constexpr (std::is_integral_v<T>) {
      if (!a.spec.per_step) s += std::string(s.empty() ? "" : " ") + a.name + "=" + std::to_string(value);
    }
  });
  return s + missing;
}

}  // namespace ddpm
