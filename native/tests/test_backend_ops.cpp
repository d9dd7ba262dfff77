// test_backend_ops: every op of the table (ops.def) on a backend under test
// against the CPU float32 backend, case by case (as ggml's test-backend-ops).
//
//   test_backend_ops [--backend cpu|cuda] [--precision fp32|tf32|bf16|all]
//                    [--device N] [--quick] [--list] [FILTER]
//
// A case is an op, its sizes and values, and a tolerance per output and
// precision. The harness reads each argument's role and shape from the table:
// it fills the inputs with random values (bf16-exact in precision bf16 where
// the backend stores or multiplies in bf16: activations, convolution
// weights), prefills the outputs differently on the two sides (NaN on the
// backend under test, so an element the op fails to write shows), runs the
// op on both, reads every output back (activations through from_activation)
// and holds it to
//     |test - ref| <= atol_rel * max|ref| + rtol * |ref|
// printing max-abs, max-abs / max|ref| and the largest relative error. The
// CPU float32 backend as the backend under test (with another thread count)
// must match exactly. Every op of the table must have a case (checked).
// Besides the ops, two backend checks: memory (uploads, copy, fill) and the
// errors an op reports.
//
// Backends: cpu (precision bf16 needs AVX512_BF16) and, in a CUDA build,
// cuda. Exit status 0 when every check passed, 1 on a failure, 2 on a usage
// error, 77 when the backend or precision asked for is not available here
// (no GPU, no AVX512_BF16: ctest reports that test as skipped).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "cpu_backend.h"
#include "ddpm/api.h"
#include "ddpm/backend.h"
#include "ddpm/op_calls.h"
#include "ddpm/unet.h"
#include "gemm.h"
#include "testing.h"
#ifdef DDPM_WITH_CUDA
#include "ddpm/cuda.h"
#endif

using namespace ddpm;
namespace tst = ddpm::testing;

namespace {

// ---- tolerances -----------------------------------------------------------------------
// {atol_rel, rtol}: pass when |test - ref| <= atol_rel * max|ref| + rtol * |ref|.
struct Tol {
  double atol_rel, rtol;
};
// float32 on both sides (CUDA with cuDNN in strict fp32, CUDNN_FMA_MATH):
constexpr Tol kExact{1e-6, 1e-6};   // the same arithmetic, a rounding or two apart
constexpr Tol kMath{1e-6, 1e-5};    // libm vs CUDA math (expf, logf, sinf: a few ulp)
constexpr Tol kReduce{1e-5, 1e-4};  // sums in another order (up to ~1e5 terms), GEMMs
constexpr Tol kStat{1e-5, 1e-5};    // a mean and its running average
// cuDNN convolutions: other summation orders, and FFT / Winograd algorithms
// whose error scales with the tensor's norm. Also BatchNorm's backward dx:
// g - mean(g) - xhat * mean(g xhat) cancels.
constexpr Tol kConv{1e-4, 1e-3};
// TF32 (10-bit mantissas) GEMMs and convolutions, from float32 operands: each
// product is off by up to 2^-10 relative, in random directions, so a sum of K
// terms by about 6e-4 of its typical size and some 2.5e-3 of it at 4 sigma,
// which is below 1e-3 of max|ref|. An estimate: not yet measured on a GPU.
constexpr Tol kTf32{3e-3, 1e-2};
// Precision bf16, on bf16-exact inputs, so that what remains is float32
// accumulation order and the bf16 rounding of an output (2^-9 relative, twice
// where a bias is added to a rounded result):
constexpr Tol kBf16{4e-3, 8e-3};        // bf16-rounded outputs
constexpr Tol kBf16Reduce{1e-4, 1e-3};  // float32 reductions of bf16 inputs (statistics, bias/add sums)
// Weight gradients from cuDNN's bf16 backward-filter algorithms: some (chosen
// by cudnnFind on timing, so not every run) reduce split-K partial results
// held in bf16. Measured on an H100: max_abs 8.6e-3 * max|ref| for
// (8,64,32,32)->64 (sums of 8192 products).
constexpr Tol kBf16Wgrad{2e-2, 3e-2};

// One output's tolerance in each precision.
struct Tols {
  Tol fp32, tf32, bf16;
  Tol in(Precision p) const { return p == Precision::kBf16 ? bf16 : p == Precision::kTf32 ? tf32 : fp32; }
};
constexpr Tols same(Tol t) { return Tols{t, t, t}; }
constexpr Tols kConvOut{kConv, kTf32, kBf16};       // convolution outputs and input gradients
constexpr Tols kConvWgrad{kConv, kTf32, kBf16Wgrad};  // convolution weight gradients
constexpr Tols kActSum{kReduce, kReduce, kBf16Reduce};  // float32 sums over activations
constexpr Tols kActElementwise{kExact, kExact, kBf16};  // activations written elementwise
constexpr Tols kBnOut{kReduce, kReduce, kBf16};
constexpr Tols kBnDx{kConv, kConv, kBf16};
constexpr Tols kBnStat{kStat, kStat, kBf16Reduce};
// Linear: cuBLAS with TF32 in precisions tf32 and bf16 (the time MLPs).
constexpr Tols kDense{kReduce, kTf32, kTf32};

// ---- host tensors ----------------------------------------------------------------------
struct HostTensor {
  ArgSpec spec;
  OpShape shape;
  std::vector<float> f;    // Elem::kF32
  std::vector<int32_t> i;  // Elem::kI32
  std::vector<uint8_t> u;  // Elem::kU8
  size_t bytes() const { return f.size() * 4 + i.size() * 4 + u.size(); }
  void* data() { return !f.empty() ? static_cast<void*>(f.data()) : !i.empty() ? static_cast<void*>(i.data()) : u.data(); }
};
using HostTensors = std::map<std::string, HostTensor>;

// How an input is filled: uniform in [lo, hi) (floats), or integers in
// [lo, hi) (int32 and byte tensors); grid: floats rounded to multiples of 0.5
// (ties for max-pool).
struct Fill {
  double lo = -1.0, hi = 1.0;
  bool grid = false;
};
Fill uniform(double lo, double hi) { return Fill{lo, hi, false}; }
Fill grid() { return Fill{-1.0, 1.0, true}; }

// One backend's buffers for one case, freed with it. Activations are stored
// in the backend's activation format, through a float32 staging buffer.
class Buffers {
 public:
  explicit Buffers(Backend& b) : b_(b) {}
  ~Buffers() {
    for (void* p : owned_) b_.free(p);
  }
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;

  void* put(const HostTensor& t) {
    const OpShape& s = t.shape;
    if (!t.spec.activation) {
      void* p = alloc(t.bytes());
      b_.upload(p, const_cast<HostTensor&>(t).data(), t.bytes());
      return p;
    }
    float* stage = static_cast<float*>(alloc(s.elements * sizeof(float)));
    b_.upload(stage, t.f.data(), s.elements * sizeof(float));
    float* act = static_cast<float*>(alloc(b_.activation_bytes(s.elements)));
    b_.to_activation(stage, act, s.N, s.C, s.HW);
    return act;
  }
  void get(HostTensor& t, const void* p) {
    const OpShape& s = t.shape;
    if (!t.spec.activation) {
      b_.download(t.data(), p, t.bytes());
      return;
    }
    float* stage = static_cast<float*>(alloc(s.elements * sizeof(float)));
    b_.from_activation(static_cast<const float*>(p), stage, s.N, s.C, s.HW);
    b_.download(t.f.data(), stage, s.elements * sizeof(float));
  }

 private:
  void* alloc(size_t bytes) {
    void* p = b_.alloc(std::max<size_t>(bytes, 4));
    owned_.push_back(p);
    return p;
  }
  Backend& b_;
  std::vector<void*> owned_;
};

// ---- the harness ------------------------------------------------------------------------
struct Harness {
  Backend& ref;   // CPU float32
  Backend& test;  // the backend under test
  Precision precision;
  bool exact;  // the backend under test is the CPU in float32: bit for bit
  int checks = 0, failures = 0;
  uint32_t seed = 1234;

  uint32_t next_seed() { return seed += 7919; }
  void verdict(bool ok, const std::string& line) {
    ++checks;
    if (!ok) ++failures;
    std::printf("%s  %s\n", ok ? "PASS" : "FAIL", line.c_str());
    std::fflush(stdout);
  }
  // Compares one output (as floats) and prints one line.
  void report(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, Tol tol) {
    if (exact) tol = Tol{0.0, 0.0};
    double scale = 0.0;
    for (float v : want) scale = std::max(scale, static_cast<double>(std::fabs(v)));
    scale = std::max(scale, 1e-30);
    const auto r = tst::compare(got.data(), want.data(), got.size(), tol.atol_rel * scale, tol.rtol);
    char buf[640];
    std::snprintf(buf, sizeof(buf), "%-72s max_abs %.3g  max_abs/max|ref| %.3g  max_rel %.3g  ", what.c_str(), r.max_abs,
                  r.max_abs / scale, r.max_rel);
    std::string line = buf;
    if (tol.atol_rel == 0 && tol.rtol == 0) {
      line += "(bit for bit)";
    } else {
      std::snprintf(buf, sizeof(buf), "(atol %.0e*max|ref|, rtol %.0e)", tol.atol_rel, tol.rtol);
      line += buf;
    }
    if (!r.ok) {
      std::snprintf(buf, sizeof(buf), "; worst element %zu: test %.9g, ref %.9g", r.worst, r.worst_actual, r.worst_ref);
      line += buf;
    }
    verdict(r.ok, line);
  }
  // Runs fn; an exception is a FAIL of `what`.
  void guarded(const std::string& what, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      verdict(false, what + ": exception: " + e.what());
    }
  }
};

std::vector<float> as_floats(const HostTensor& t) {
  if (!t.f.empty()) return t.f;
  if (!t.i.empty()) return std::vector<float>(t.i.begin(), t.i.end());
  return std::vector<float>(t.u.begin(), t.u.end());
}

class Case {
 public:
  virtual ~Case() = default;
  virtual const char* op() const = 0;
  virtual std::string label() const = 0;
  virtual void run(Harness& h) const = 0;
};

// One case of one op (Call: a ddpm::calls record): the values of its value
// arguments, and how its tensors are filled and compared.
template <typename Call>
class OpCase final : public Case {
 public:
  explicit OpCase(const std::function<void(Call&)>& set) { set(call_); }

  // The tolerance of every output, or of one.
  OpCase& tol(Tols t) {
    tol_ = t;
    return *this;
  }
  OpCase& tol(const std::string& output, Tols t) {
    tols_[output] = t;
    return *this;
  }
  OpCase& fill(const std::string& input, Fill f) {
    fills_[input] = f;
    return *this;
  }
  // An optional tensor left out (nullptr).
  OpCase& omit(const std::string& tensor) {
    omitted_.insert(tensor);
    return *this;
  }
  // The output is written in place of the input (the op allows the aliasing).
  OpCase& in_place(const std::string& output, const std::string& input) {
    aliases_[output] = input;
    return *this;
  }
  // An output the op must leave as it was (e.g. eval BatchNorm's save_*).
  OpCase& untouched(const std::string& output) {
    untouched_.insert(output);
    return *this;
  }
  // The element count of a tensor the table leaves open (count 0).
  OpCase& count(const std::string& tensor, size_t n) {
    counts_[tensor] = n;
    return *this;
  }
  // Inputs derived from others once they are filled (before any bf16 rounding).
  OpCase& prepare(const std::function<void(HostTensors&, const Call&)>& fn) {
    prepare_ = fn;
    return *this;
  }
  OpCase& note(const std::string& n) {
    note_ = " (" + n + ")";
    return *this;
  }

  const char* op() const override { return Call::name; }
  std::string label() const override {
    Call c = call_;
    c.for_each_arg([&](const OpArg& a, auto& value) {
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_pointer_v<T>)
        if (!omitted_.count(a.name)) value = reinterpret_cast<T>(uintptr_t{64});  // present
    });
    return std::string(Call::name) + " " + op_shape(c) + note_;
  }

  void run(Harness& h) const override {
    const std::string what = label();
    h.guarded(what, [&] { run_checked(h, what); });
  }

 private:
  void run_checked(Harness& h, const std::string& what) const {
    HostTensors host = fill_inputs(h);
    if (prepare_) prepare_(host, call_);
    if (h.precision == Precision::kBf16)
      for (auto& [name, t] : host)
        if (t.spec.use != ArgSpec::Use::kWrite && (t.spec.activation || t.spec.bf16_operand)) t.f = tst::round_bf16(t.f);
    // The outputs' starting values: on the reference, the host values; under
    // test, NaN (or -1), so that an element the op does not write shows --
    // except where the op must leave them (untouched) or reads them.
    HostTensors start = host;
    for (auto& [name, t] : start)
      if (t.spec.use == ArgSpec::Use::kWrite && !untouched_.count(name) && !aliases_.count(name)) {
        std::fill(t.f.begin(), t.f.end(), NAN);
        std::fill(t.i.begin(), t.i.end(), -1);
      }
    Buffers ref_buf(h.ref), test_buf(h.test);
    Call ref_call = bind(ref_buf, host), test_call = bind(test_buf, start);
    ref_call.run(h.ref);
    test_call.run(h.test);
    // Every output, read back on both sides.
    for (const std::string& name : outputs()) {
      const auto alias = aliases_.find(name);
      const std::string& buffer = alias == aliases_.end() ? name : alias->second;
      HostTensor got = host.at(buffer), want = host.at(buffer);
      ref_buf.get(want, pointer(ref_call, buffer));
      test_buf.get(got, pointer(test_call, buffer));
      const std::string out = what + ": " + name + (alias == aliases_.end() ? "" : " (in place of " + buffer + ")");
      if (untouched_.count(name)) {
        h.report(out + " untouched", as_floats(got), as_floats(host.at(name)), Tol{0.0, 0.0});
        h.report(out + " untouched (reference)", as_floats(want), as_floats(host.at(name)), Tol{0.0, 0.0});
        continue;
      }
      const auto it = tols_.find(name);
      h.report(out, as_floats(got), as_floats(want), (it == tols_.end() ? tol_ : it->second).in(h.precision));
    }
  }

  // The tensors the op writes (but the omitted ones), in order.
  std::vector<std::string> outputs() const {
    std::vector<std::string> names;
    call_.for_each_arg([&](const OpArg& a, const auto&) {
      if (a.spec.tensor() && a.spec.written() && !omitted_.count(a.name)) names.push_back(a.name);
    });
    return names;
  }

  // Every tensor of the call (but the omitted and aliased ones), filled.
  HostTensors fill_inputs(Harness& h) const {
    HostTensors host;
    call_.for_each_arg([&](const OpArg& a, const auto& value) {
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_pointer_v<T>) {
        if (omitted_.count(a.name) || aliases_.count(a.name)) return;
        HostTensor t{a.spec, a.shape, {}, {}, {}};
        const auto n = counts_.find(a.name);
        if (n != counts_.end()) t.shape = OpShape(n->second);
        if (t.shape.elements == 0)
          throw Error(std::string("case of ") + Call::name + ": tensor " + a.name + " needs a count()");
        const auto f = fills_.find(a.name);
        const Fill fill = f != fills_.end() ? f->second : a.spec.elem == ArgSpec::Elem::kU8 ? uniform(0, 256) : Fill{};
        std::mt19937 gen(h.next_seed());
        switch (a.spec.elem) {
          case ArgSpec::Elem::kF32: {
            std::uniform_real_distribution<float> d(static_cast<float>(fill.lo), static_cast<float>(fill.hi));
            t.f.resize(t.shape.elements);
            for (auto& v : t.f) v = fill.grid ? std::round(d(gen) * 2.0f) / 2.0f : d(gen);
            break;
          }
          case ArgSpec::Elem::kI32: {
            if (f == fills_.end() && a.spec.use == ArgSpec::Use::kRead)
              throw Error(std::string("case of ") + Call::name + ": int32 input " + a.name + " needs a fill() range");
            std::uniform_int_distribution<int32_t> d(static_cast<int32_t>(fill.lo), static_cast<int32_t>(fill.hi) - 1);
            t.i.resize(t.shape.elements);
            for (auto& v : t.i) v = d(gen);
            break;
          }
          default: {
            std::uniform_int_distribution<int> d(static_cast<int>(fill.lo), static_cast<int>(fill.hi) - 1);
            t.u.resize(t.shape.elements);
            for (auto& v : t.u) v = static_cast<uint8_t>(d(gen));
          }
        }
        host.emplace(a.name, std::move(t));
      }
    });
    return host;
  }

  // The call with its tensors in `buf` (an aliased output points at its input).
  Call bind(Buffers& buf, const HostTensors& values) const {
    std::map<std::string, void*> where;
    for (const auto& [name, t] : values) where[name] = buf.put(t);
    for (const auto& [out, in] : aliases_) where[out] = where.at(in);
    Call c = call_;
    c.for_each_arg([&](const OpArg& a, auto& value) {
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_pointer_v<T>) {
        const auto it = where.find(a.name);
        value = it == where.end() ? nullptr : static_cast<T>(it->second);
      }
    });
    return c;
  }
  static const void* pointer(const Call& c, const std::string& name) {
    const void* p = nullptr;
    c.for_each_arg([&](const OpArg& a, const auto& value) {
      if constexpr (std::is_pointer_v<std::decay_t<decltype(value)>>)
        if (name == a.name) p = value;
    });
    return p;
  }

  Call call_{};
  Tols tol_ = same(kExact);
  std::map<std::string, Tols> tols_;
  std::map<std::string, Fill> fills_;
  std::map<std::string, size_t> counts_;
  std::map<std::string, std::string> aliases_;
  std::set<std::string> omitted_, untouched_;
  std::function<void(HostTensors&, const Call&)> prepare_;
  std::string note_;
};

class CaseList {
 public:
  template <typename Call>
  OpCase<Call>& add(const std::function<void(Call&)>& set) {
    auto c = std::make_unique<OpCase<Call>>(set);
    OpCase<Call>& ref = *c;
    cases_.push_back(std::move(c));
    return ref;
  }
  const std::vector<std::unique_ptr<Case>>& cases() const { return cases_; }

 private:
  std::vector<std::unique_ptr<Case>> cases_;
};

// ---- the cases ---------------------------------------------------------------------------
// Odd sizes (scalar paths, floor pooling, channel counts that are and are
// not multiples of 8), then the seed model's shapes at batch 8.

auto conv_sizes(int N, int Cin, int H, int W, int Cout, int k) {
  return [=](auto& c) {
    c.N = N, c.Cin = Cin, c.H = H, c.W = W, c.Cout = Cout, c.k = k;
  };
}
auto convT_sizes(int N, int Cin, int H, int W, int Cout) {
  return [=](auto& c) { c.N = N, c.Cin = Cin, c.H = H, c.W = W, c.Cout = Cout; };
}
auto plane_sizes(int N, int C, int HW) {
  return [=](auto& c) { c.N = N, c.C = C, c.HW = HW; };
}
auto pool_sizes(int N, int C, int H, int W) {
  return [=](auto& c) { c.N = N, c.C = C, c.H = H, c.W = W; };
}
auto concat_sizes(int N, int Cu, int Hu, int Wu, int Cs, int Hs, int Ws) {
  return [=](auto& c) { c.N = N, c.Cu = Cu, c.Hu = Hu, c.Wu = Wu, c.Cs = Cs, c.Hs = Hs, c.Ws = Ws; };
}

void convolution_cases(CaseList& L, bool quick) {
  struct S {
    int N, Cin, H, W, Cout, k;
    bool large;
  };
  // Cin <= 4 with Cout a multiple of 8: the first layer, which CUDA bf16 may
  // run on its own kernels (nhwc_conv_small_cin.cu; DDPM_CUDA_SMALL_CIN=force).
  for (const S s : {S{3, 5, 7, 9, 6, 3, false}, S{2, 7, 5, 3, 4, 1, false}, S{2, 8, 5, 3, 16, 1, false},
                    S{4, 3, 32, 32, 64, 3, false}, S{2, 1, 9, 7, 16, 3, false}, S{3, 4, 5, 6, 8, 3, false},
                    S{2, 2, 4, 3, 24, 3, false}, S{4, 64, 32, 32, 3, 1, false}, S{8, 64, 32, 32, 64, 3, true},
                    S{8, 128, 16, 16, 128, 3, true}, S{8, 512, 2, 2, 1024, 3, true}, S{8, 1024, 2, 2, 1024, 3, true}}) {
    if (quick && s.large) continue;
    const auto sizes = conv_sizes(s.N, s.Cin, s.H, s.W, s.Cout, s.k);
    // Weights at nn.Conv2d's initial scale 1/sqrt(fan_in).
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.Cin * s.k * s.k));
    L.add<calls::conv2d_forward>(sizes).fill("w", uniform(-bound, bound)).tol(kConvOut);
    L.add<calls::conv2d_backward>(sizes).fill("w", uniform(-bound, bound)).tol(kConvOut).tol("dw", kConvWgrad).tol(
        "db", kActSum);
  }
  const auto odd = conv_sizes(2, 4, 6, 6, 5, 3);
  L.add<calls::conv2d_forward>(odd).omit("b").tol(kConvOut);

  // Eval mode's conv + BatchNorm + ReLU (+ add): the BatchNorm rescales the
  // convolution's error by at most gamma / sqrt(var) ~ 2, as it does the values.
  for (const S s : {S{3, 5, 7, 9, 6, 3, false}, S{2, 8, 5, 3, 16, 1, false}, S{4, 16, 32, 32, 16, 3, false},
                    S{8, 64, 32, 32, 64, 3, true}}) {
    if (quick && s.large) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.Cin * s.k * s.k));
    for (bool add : {false, true}) {
      auto& c = L.add<calls::conv2d_batchnorm_relu_eval>([&](auto& c) {
                     conv_sizes(s.N, s.Cin, s.H, s.W, s.Cout, s.k)(c);
                     c.eps = 1e-5f;
                   })
                    .fill("w", uniform(-bound, bound))
                    .fill("gamma", uniform(0.5, 1.5))
                    .fill("beta", uniform(-0.5, 0.5))
                    .fill("running_mean", uniform(-0.3, 0.3))
                    .fill("running_var", uniform(0.5, 2.0))
                    .tol(kConvOut);
      if (!add) c.omit("add").omit("b");
    }
  }
  L.add<calls::conv2d_backward>(odd).omit("dx").omit("db").tol(kConvWgrad);
  // 1x1 to at most 4 channels (the output layer; CUDA bf16 runs its own
  // kernels, nhwc_conv1x1_narrow.cu): one and two output channels, and a
  // backward without dx and db.
  for (const S s : {S{3, 16, 5, 7, 1, 1, false}, S{2, 8, 4, 4, 2, 1, false}}) {
    const auto sizes = conv_sizes(s.N, s.Cin, s.H, s.W, s.Cout, s.k);
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.Cin));
    L.add<calls::conv2d_forward>(sizes).fill("w", uniform(-bound, bound)).tol(kConvOut);
    L.add<calls::conv2d_backward>(sizes).fill("w", uniform(-bound, bound)).tol(kConvOut).tol("dw", kConvWgrad).tol(
        "db", kActSum);
  }
  L.add<calls::conv2d_backward>(conv_sizes(2, 8, 4, 4, 2, 1)).omit("dx").omit("db").tol(kConvWgrad);

  struct T {
    int N, Cin, H, W, Cout;
    bool large;
  };
  for (const T s : {T{3, 5, 3, 7, 4, false}, T{8, 128, 16, 16, 64, false}, T{8, 1024, 2, 2, 512, true}}) {
    if (quick && s.large) continue;
    const auto sizes = convT_sizes(s.N, s.Cin, s.H, s.W, s.Cout);
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.Cout * 4));
    L.add<calls::conv_transpose2x2_forward>(sizes).fill("w", uniform(-bound, bound)).tol(kConvOut);
    L.add<calls::conv_transpose2x2_backward>(sizes).fill("w", uniform(-bound, bound)).tol(kConvOut).tol(
        "dw", kConvWgrad).tol("db", kActSum);
  }
  const auto oddT = convT_sizes(2, 6, 4, 4, 3);
  L.add<calls::conv_transpose2x2_forward>(oddT).omit("b").tol(kConvOut);
  L.add<calls::conv_transpose2x2_backward>(oddT).omit("dx").omit("db").tol(kConvWgrad);
}

// BatchNorm inputs like conv outputs: per-channel offsets and scales (and a
// mean far from 0 where mean_offset is set: the shifted sums matter).
template <typename Call>
void channel_spread(HostTensors& h, const Call& c, float mean_offset) {
  std::mt19937 gen(static_cast<uint32_t>(c.C * 131 + c.HW));
  std::uniform_real_distribution<float> off(-0.5f, 0.5f), scale(0.2f, 3.0f);
  std::vector<float> o(c.C), s(c.C);
  for (int i = 0; i < c.C; ++i) o[i] = off(gen), s[i] = scale(gen);
  std::vector<float>& x = h.at("x").f;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t ch = (i / c.HW) % c.C;
    x[i] = 2.0f * x[i] * s[ch] + o[ch] + mean_offset;
  }
}

// The backward's saved statistics: the batch statistics of its x.
void saved_statistics(HostTensors& h, const calls::batchnorm_relu_backward& c, float mean_offset) {
  channel_spread(h, c, mean_offset);
  const std::vector<float>& x = h.at("x").f;
  for (int ch = 0; ch < c.C; ++ch) {
    double s = 0, s2 = 0;
    for (int n = 0; n < c.N; ++n)
      for (int i = 0; i < c.HW; ++i) {
        const double v = x[(static_cast<size_t>(n) * c.C + ch) * c.HW + i];
        s += v;
        s2 += v * v;
      }
    const double m = static_cast<double>(c.N) * c.HW, mean = s / m;
    h.at("save_mean").f[ch] = static_cast<float>(mean);
    h.at("save_invstd").f[ch] = static_cast<float>(1.0 / std::sqrt(std::max(s2 / m - mean * mean, 0.0) + 1e-5));
  }
}

void batchnorm_cases(CaseList& L, bool quick) {
  struct S {
    int N, C, HW;
    bool add;
    float mean_offset;
    bool large;
    bool conv_bias;  // the UNet's training step passes its conv biases
  };
  for (const S s : {S{2, 3, 35, false, 0, false, false}, S{3, 5, 1, true, 0, false, true},
                    S{2, 7, 7, true, 50, false, true}, S{2, 8, 7, true, 50, false, false},
                    S{8, 64, 1024, true, 0, false, true}, S{8, 1024, 4, true, 0, false, false},
                    S{8, 256, 64, false, 0, false, true}, S{64, 64, 1024, true, 0, true, true}}) {
    if (quick && s.large) continue;
    const std::string note = s.mean_offset != 0 ? "mean +" + std::to_string(static_cast<int>(s.mean_offset)) : "";
    for (bool training : {true, false}) {
      auto& fwd = L.add<calls::batchnorm_relu_forward>([&](auto& c) {
                      plane_sizes(s.N, s.C, s.HW)(c);
                      c.training = training, c.momentum = 0.1f, c.eps = 1e-5f;
                    })
                      .fill("gamma", uniform(0.5, 1.5))
                      .fill("beta", uniform(-0.5, 0.5))
                      .fill("conv_bias", uniform(-2.0, 2.0))
                      .fill("running_mean", uniform(-0.1, 0.1))
                      .fill("running_var", uniform(0.5, 2.0))
                      .prepare([m = s.mean_offset](HostTensors& h, const auto& c) { channel_spread(h, c, m); })
                      .tol(kBnOut)
                      .tol("save_mean", kBnStat)
                      .tol("save_invstd", kActSum)
                      .tol("running_mean", kBnStat)
                      .tol("running_var", kActSum);
      if (!s.add) fwd.omit("add");
      if (!s.conv_bias) fwd.omit("conv_bias");
      if (!training) fwd.untouched("save_mean").untouched("save_invstd").tol(kActElementwise);
      if (!note.empty()) fwd.note(note);
    }
    // Both sides get the same saved statistics, so both recompute the same
    // ReLU mask -- but for an element whose x*scale+shift lands within a
    // rounding of 0 (FMA contraction may differ), which would fail dx.
    auto& bwd = L.add<calls::batchnorm_relu_backward>(plane_sizes(s.N, s.C, s.HW))
                    .fill("gamma", uniform(0.5, 1.5))
                    .fill("beta", uniform(-0.5, 0.5))
                    .prepare([m = s.mean_offset](HostTensors& h, const auto& c) { saved_statistics(h, c, m); })
                    .tol(kActSum)
                    .tol("dx", kBnDx);
    if (!s.add) bwd.omit("dadd");
    if (!s.conv_bias) bwd.omit("dconv_bias");
    if (!note.empty()) bwd.note(note);
  }
}

void pool_concat_cases(CaseList& L) {
  struct P {
    int N, C, H, W;
    bool add;
  };
  for (const P s : {P{2, 3, 7, 9, true}, P{3, 2, 5, 4, false}, P{3, 16, 5, 4, false}, P{8, 64, 32, 32, true},
                    P{8, 512, 4, 4, true}}) {
    // Values on a coarse grid, so that windows hold ties (the first max wins).
    auto& fwd = L.add<calls::maxpool2x2_forward>(pool_sizes(s.N, s.C, s.H, s.W)).fill("x", grid()).tol(kActElementwise);
    auto& bwd = L.add<calls::maxpool2x2_backward>(pool_sizes(s.N, s.C, s.H, s.W))
                    .fill("x", grid())
                    .tol(kActElementwise)
                    .tol("dadd", kActSum);
    if (!s.add) {
      fwd.omit("add");
      bwd.omit("dadd");
    }
  }
  struct C {
    int N, Cu, Hu, Wu, Cs, Hs, Ws;
  };
  for (const C s : {C{2, 3, 5, 7, 4, 8, 10}, C{2, 3, 4, 4, 2, 5, 5}, C{2, 8, 4, 4, 16, 5, 5}, C{8, 64, 32, 32, 64, 32, 32},
                    C{8, 512, 4, 4, 512, 4, 4}}) {
    const auto sizes = concat_sizes(s.N, s.Cu, s.Hu, s.Wu, s.Cs, s.Hs, s.Ws);
    L.add<calls::pad_concat_forward>(sizes).tol(kActElementwise);  // with up_bias (the UNet's)
    L.add<calls::pad_concat_forward>(sizes).omit("up_bias");
    L.add<calls::pad_concat_backward>(sizes);
  }
  L.add<calls::pad_concat_backward>(concat_sizes(2, 3, 5, 7, 4, 8, 10)).omit("dup");
  L.add<calls::pad_concat_backward>(concat_sizes(2, 3, 5, 7, 4, 8, 10)).omit("dskip");
  for (const auto& s : {std::array<int, 3>{2, 3, 35}, {8, 3, 1024}, {8, 1024, 4}}) {
    L.add<calls::add_channel_forward>(plane_sizes(s[0], s[1], s[2])).tol(kActElementwise);
    L.add<calls::add_channel_forward>(plane_sizes(s[0], s[1], s[2])).in_place("y", "x").tol(kActElementwise);
    L.add<calls::add_channel_backward>(plane_sizes(s[0], s[1], s[2])).tol(kActSum);
  }
}

void dense_cases(CaseList& L, bool quick) {
  struct D {
    int N, in, out;
    bool large;
  };
  for (const D s : {D{3, 7, 5, false}, D{8, 100, 64, false}, D{8, 1024, 1024, false}, D{128, 100, 1024, true}}) {
    if (quick && s.large) continue;
    const auto sizes = [s](auto& c) { c.N = s.N, c.in = s.in, c.out = s.out; };
    const double bound = 1.0 / std::sqrt(static_cast<double>(s.in));
    L.add<calls::linear_forward>(sizes).fill("w", uniform(-bound, bound)).tol(kDense);
    L.add<calls::linear_backward>(sizes).fill("w", uniform(-bound, bound)).tol(kDense);
  }
  const auto small = [](auto& c) { c.N = 8, c.in = 1024, c.out = 1024; };
  L.add<calls::linear_forward>(small).omit("b").tol(kDense);
  L.add<calls::linear_backward>(small).omit("dx").omit("db").tol(kDense);
  for (size_t n : {size_t{1001}, size_t{8 * 1024}}) {
    L.add<calls::silu_forward>([n](auto& c) { c.n = n; }).fill("x", uniform(-8, 8)).tol(same(kMath));
    L.add<calls::silu_forward>([n](auto& c) { c.n = n; }).fill("x", uniform(-8, 8)).in_place("y", "x").tol(same(kMath));
    L.add<calls::silu_backward>([n](auto& c) { c.n = n; }).fill("x", uniform(-8, 8)).in_place("dx", "dy").tol(same(kMath));
  }
  for (const auto& s : {std::array<int, 3>{8, 100, 1000}, {5, 3, 7}})
    L.add<calls::embedding_gather>([s](auto& c) { c.N = s[0], c.D = s[1], c.T = s[2]; }).fill("t", uniform(0, s[2]));
}

void loss_and_random_cases(CaseList& L, bool quick) {
  for (size_t n : {size_t{1001}, size_t{8 * 3072}, size_t{512 * 3072}}) {
    if (quick && n > 100000) continue;
    L.add<calls::mse_forward_backward>([n](auto& c) { c.n = n; })
        .fill("pred", uniform(-2, 2))
        .fill("target", uniform(-2, 2))
        .tol("loss", same(Tol{0.0, 1e-5}));
  }
  L.add<calls::mse_forward_backward>([](auto& c) { c.n = 1001; }).omit("grad").tol("loss", same(Tol{0.0, 1e-5}));
  // Min-SNR-gamma weights (gamma 5) of the linear schedule, indexed by each sample's t.
  const Schedule sched = Schedule::linear(1000, 1e-4f, 0.02f);
  const std::vector<float> snr_weights = sched.min_snr_weights(5.0);
  for (const auto& s : {std::pair<int, size_t>{8, 3072}, {3, 35}})
    L.add<calls::mse_weighted_forward_backward>([s](auto& c) { c.N = s.first, c.per_sample = s.second; })
        .fill("pred", uniform(-2, 2))
        .fill("target", uniform(-2, 2))
        .fill("t", uniform(0, 1000))
        .count("weights", 1000)
        .prepare([snr_weights](HostTensors& h, const auto&) { h.at("weights").f = snr_weights; })
        .tol("loss", same(Tol{0.0, 1e-5}));
  struct G {
    size_t n;
    uint64_t offset;
  };
  // Bit for bit: rng.h spells out the Box-Muller math (explicit fused
  // multiply-adds, no libm), so every backend computes the same operations.
  for (const G g : {G{1001, 3}, G{8 * 3072, 0}, G{7, (1ull << 40) + 1}, G{1, 2}})
    L.add<calls::gaussian>([g](auto& c) { c.n = g.n, c.seed = 42, c.stream = 7, c.offset = g.offset; })
        .tol(same(Tol{0.0, 0.0}));
  for (int high : {1000, 7, 1})
    L.add<calls::uniform_int>([high](auto& c) { c.n = 513, c.high = high, c.seed = 99, c.stream = 12345; })
        .tol(same(Tol{0.0, 0.0}));
}

void diffusion_cases(CaseList& L) {
  const auto images = [](int N, int C, int H, int W) { return [=](auto& c) { c.N = N, c.C = C, c.H = H, c.W = W; }; };
  L.add<calls::images_to_float>(images(8, 3, 32, 32)).fill("flip", uniform(0, 2));
  L.add<calls::images_to_float>(images(3, 1, 5, 7)).omit("flip");
  const Schedule linear = Schedule::linear(1000, 1e-4f, 0.02f);
  for (const auto& s : {std::pair<int, size_t>{8, 3072}, {3, 35}})
    L.add<calls::noise_add>([s](auto& c) { c.N = s.first, c.per_sample = s.second; })
        .fill("t", uniform(0, 1000))
        .count("sqrt_abar", 1000)
        .count("sqrt_one_minus_abar", 1000)
        .prepare([linear](HostTensors& h, const auto&) {
          h.at("sqrt_abar").f = linear.sqrt_alpha_bar;
          h.at("sqrt_one_minus_abar").f = linear.sqrt_one_minus_alpha_bar;
        });
  struct R {
    int N;
    size_t per;
    float sigma;
    int64_t first;
    bool in_place;
  };
  for (const R r : {R{8, 3072, 0.1f, 0, false}, R{3, 35, 0.2f, 5, true}, R{2, 9, 0.0f, 1, false}}) {
    auto& step = L.add<calls::reverse_step>([r](auto& c) {
                 c.N = r.N, c.per_sample = r.per, c.c_x = 1.01f, c.c_eps = 0.05f, c.sigma = r.sigma;
                 c.seed = 77, c.stream = 5, c.first_index = r.first;
               }).tol(same(kMath));
    if (r.in_place) step.in_place("x_prev", "x_t");
  }
  L.add<calls::clamp>([](auto& c) { c.n = 1001, c.lo = -1.0f, c.hi = 1.0f; }).fill("x", uniform(-2, 2));
  L.add<calls::clamp>([](auto& c) { c.n = 1001, c.lo = -0.5f, c.hi = 0.25f; }).fill("x", uniform(-2, 2)).in_place("out", "x");

  // DDIM steps (t -> t_prev, eta) and the clipped DDPM posterior (t_prev = -2).
  struct D {
    int N;
    size_t per;
    int t, t_prev;
    double eta;
    float clip;
    int64_t first;
    bool in_place;
  };
  const Schedule cosine = Schedule::cosine(1000);
  for (const D d : {D{8, 3072, 980, 960, 0.0, 0.0f, 0, false}, D{3, 35, 500, 250, 1.0, 0.0f, 5, true},
                    D{2, 9, 999, 979, 0.5, 1.0f, 1, false}, D{4, 3072, 20, -1, 0.0, 1.0f, 0, true},
                    D{3, 3072, 999, -2, 0.0, 1.0f, 2, true}, D{2, 35, 400, -2, 0.0, 1.0f, 0, false}}) {
    const DdimCoefficients k = d.t_prev == -2 ? cosine.ddpm_posterior(d.t, d.clip) : cosine.ddim(d.t, d.t_prev, d.eta, d.clip);
    auto& step = L.add<calls::ddim_step>([d, k](auto& c) {
                 c.N = d.N, c.per_sample = d.per, c.k = k, c.seed = 77, c.stream = 5, c.first_index = d.first;
               })
                  .fill("x_t", uniform(-3, 3))
                  .tol(same(kMath))
                  .note(d.t_prev == -2 ? "DDPM posterior at t=" + std::to_string(d.t)
                                       : "t=" + std::to_string(d.t) + "->" + std::to_string(d.t_prev) + " eta=" +
                                             std::to_string(d.eta).substr(0, 3) + (d.clip > 0 ? " clip" : ""));
    if (d.in_place) step.in_place("x_prev", "x_t");
  }
  // DPM-Solver++ steps: first, second and third order, ODE and SDE, to x_0, clipped.
  struct P {
    int N;
    size_t per;
    int t, t_next, t_last;
    bool sde;
    float clip;
    int64_t first;
    bool in_place;
    int t_last2 = -1;
  };
  for (const P p : {P{8, 3072, 949, 899, 999, false, 0.0f, 0, false}, P{3, 35, 999, 949, -1, false, 0.0f, 5, true},
                    P{2, 9, 500, 450, 550, true, 0.0f, 1, false}, P{4, 3072, 50, -1, 100, false, 1.0f, 0, true},
                    P{3, 3072, 899, 849, 949, true, 1.0f, 2, true}, P{4, 3072, 849, 799, 899, false, 0.0f, 1, true, 949},
                    P{2, 35, 300, 200, 450, false, 1.0f, 0, false, 700}}) {
    const DpmSolverCoefficients k = cosine.dpm_solver(p.t, p.t_next, p.t_last, p.sde, p.clip, p.t_last2);
    auto& step = L.add<calls::dpm_solver_step>([p, k](auto& c) {
                   c.N = p.N, c.per_sample = p.per, c.k = k, c.seed = 77, c.stream = 5, c.first_index = p.first;
                 })
                     .fill("x_t", uniform(-3, 3))
                     .tol(same(kMath))
                     .note("t=" + std::to_string(p.t) + "->" + std::to_string(p.t_next) +
                           (p.t_last2 >= 0 ? " 3M" : p.t_last >= 0 ? " 2M" : " first order") + (p.sde ? " sde" : "") +
                           (p.clip > 0 ? " clip" : ""));
    if (p.in_place) step.in_place("x_next", "x_t");
  }
  // RePaint's known part: with noise (the keep mask in [0, 1], some pixels
  // partly known), and at the last step (b = 0: x0 itself where keep is 1).
  L.add<calls::inpaint_blend>([](auto& c) {
     c.N = 3, c.per_sample = 3 * 7 * 9, c.a = 0.8f, c.b = 0.6f, c.seed = 41, c.stream = 9, c.first_index = 5;
   })
      .fill("keep", uniform(0, 1))
      .tol(same(kMath))
      .note("noised to the step's level");
  L.add<calls::inpaint_blend>([](auto& c) {
     c.N = 4, c.per_sample = 3 * 32 * 32, c.a = 1.0f, c.b = 0.0f, c.seed = 41, c.stream = 10, c.first_index = 0;
   })
      .fill("keep", uniform(0, 1))
      .note("last step: x0 itself");
  L.add<calls::guided_eps>([](auto& c) { c.n = 1001, c.w = 3.0f; });
  L.add<calls::guided_eps>([](auto& c) { c.n = 8 * 3072, c.w = 0.0f; }).in_place("out", "eps_cond");
}

void conditioning_and_optimiser_cases(CaseList& L, bool quick) {
  struct K {
    int N, D, K, slices;
    bool large;
  };
  for (const K k : {K{8, 100, 11, 9, false}, K{37, 5, 3, 1, false}, K{512, 100, 11, 9, true}}) {
    if (quick && k.large) continue;
    L.add<calls::class_embed_add>([k](auto& c) { c.N = k.N, c.D = k.D, c.K = k.K; }).fill("labels", uniform(0, k.K));
    L.add<calls::class_embed_backward>([k](auto& c) { c.N = k.N, c.D = k.D, c.K = k.K, c.slices = k.slices; })
        .fill("labels", uniform(0, k.K))
        .tol(same(kReduce));
  }
  for (const auto& [n, wd, step] : {std::tuple<size_t, double, int64_t>{100003, 0.0, 1}, {4096, 0.01, 3}})
    L.add<calls::adam_update>([n = n, wd = wd, step = step](auto& c) {
       c.n = n, c.p.lr = 0.05, c.p.weight_decay = wd, c.p.step = step;
     }).fill("v", uniform(0, 0.1));
  L.add<calls::adam_update>([](auto& c) {
     c.n = 4097, c.p.lr = 0.05, c.p.weight_decay = 0.1, c.p.decoupled_weight_decay = true, c.p.step = 2;
   })
      .fill("v", uniform(0, 0.1))
      .note("AdamW");
  // Clipping active (norm ~182 of 100,003 values in [-1, 1]) and not: the norm is a sum in another order.
  for (const auto& [n, max_norm] : {std::pair<size_t, float>{100003, 1.0f}, {4097, 1e4f}})
    L.add<calls::clip_grad_norm>([n = n, max_norm = max_norm](auto& c) { c.n = n, c.max_norm = max_norm; })
        .tol(same(kReduce))
        .note(max_norm < 10 ? "clipping" : "norm under max_norm");
  for (const auto& [n, decay] : {std::pair<size_t, double>{100003, 0.9999}, {4097, 0.1}})
    L.add<calls::ema_update>([n = n, decay = decay](auto& c) { c.n = n, c.decay = decay; })
        .note(decay < 0.5 ? "weight 1 - decay >= 0.5" : "weight 1 - decay < 0.5");
  for (const auto& [n, decay, adamw] : {std::tuple<size_t, double, bool>{100003, 0.9999, false}, {4097, 0.1, true}})
    L.add<calls::adam_ema_update>([n = n, decay = decay, adamw = adamw](auto& c) {
       c.n = n, c.p.lr = 0.05, c.p.weight_decay = 0.1, c.p.decoupled_weight_decay = adamw, c.p.step = 3;
       c.decay = decay;
     })
        .fill("v", uniform(0, 0.1))
        .note(adamw ? "AdamW, EMA weight 1 - decay >= 0.5" : "EMA weight 1 - decay < 0.5");
}

CaseList all_cases(bool quick) {
  CaseList L;
  convolution_cases(L, quick);
  batchnorm_cases(L, quick);
  pool_concat_cases(L);
  dense_cases(L, quick);
  loss_and_random_cases(L, quick);
  diffusion_cases(L);
  conditioning_and_optimiser_cases(L, quick);
  return L;
}

// Every op of the table has a case (an op added to ops.def without one fails here).
void every_op_has_a_case(Harness& h, const CaseList& L) {
  std::set<std::string> covered;
  for (const auto& c : L.cases()) covered.insert(c->op());
  std::string missing;
#define DDPM_OP(kind, name, flops, ...) \
  if (!covered.count(#name)) missing += " " #name;
#include "ddpm/ops.def"
  h.verdict(missing.empty(), "every op of ops.def has a case" + (missing.empty() ? "" : ": missing" + missing));
}

// ---- backend checks besides the ops ---------------------------------------------------------
void memory_check(Harness& h) {
  h.guarded("memory", [&] {
    Backend& b = h.test;
    // Many uploads from one host buffer that is overwritten right after each
    // call: a backend that stages uploads (CUDA's pinned ring: chunks of
    // 2 MiB, wrapping at 8 MiB) must have copied it.
    std::mt19937 gen(h.next_seed());
    const std::vector<size_t> sizes = {1, 3, 4096, 5000, 1 << 20, (2 << 20) + 5, 3 << 20, 7, 9 << 20, 123457};
    std::vector<void*> bufs;
    std::vector<std::vector<uint8_t>> expect;
    std::vector<uint8_t> host;
    for (int rep = 0; rep < 3; ++rep)
      for (size_t n : sizes) {
        host.resize(n);
        for (auto& v : host) v = static_cast<uint8_t>(gen());
        void* d = b.alloc(n);
        b.upload(d, host.data(), n);
        expect.push_back(host);
        std::fill(host.begin(), host.end(), 0xAB);  // reuse at once
        bufs.push_back(d);
      }
    size_t bad = bufs.size();
    for (size_t i = 0; i < bufs.size(); ++i) {
      std::vector<uint8_t> back(expect[i].size());
      b.download(back.data(), bufs[i], back.size());
      if (back != expect[i]) bad = i;
      b.free(bufs[i]);
    }
    h.verdict(bad == bufs.size(), "upload/download round trip of " + std::to_string(bufs.size()) +
                                      " buffers (1 B .. 9 MiB, host buffer reused at once)" +
                                      (bad == bufs.size() ? "" : ": buffer " + std::to_string(bad) + " differs"));
    const size_t n = 100003;
    const std::vector<float> src = tst::random_vector(n, h.next_seed());
    std::vector<float> want(src);
    std::fill(want.begin() + 1, want.end() - 1, 0.5f);
    float* a = static_cast<float*>(b.alloc(n * sizeof(float)));
    float* c = static_cast<float*>(b.alloc(n * sizeof(float)));
    b.upload(a, src.data(), n * sizeof(float));
    b.copy(c, a, n * sizeof(float));
    std::vector<float> got(n);
    b.download(got.data(), c, n * sizeof(float));
    h.report("copy n=100003", got, src, Tol{0.0, 0.0});
    b.fill(c + 1, 0.5f, n - 2);  // unaligned start, odd length
    b.download(got.data(), c, n * sizeof(float));
    h.report("fill n=100001 (unaligned)", got, want, Tol{0.0, 0.0});
    b.free(a);
    b.free(c);
  });
}

// Invalid arguments throw ddpm::Error naming the op; an index out of range
// is reported (on a GPU at the next synchronisation), and the backend works
// on afterwards.
void error_check(Harness& h) {
  Backend& b = h.test;
  const auto expect_error = [&](const std::string& what, const std::string& needle, const std::function<void()>& fn) {
    std::string msg = "no exception";
    bool ok = false;
    try {
      fn();
      b.synchronize();
    } catch (const Error& e) {
      msg = e.what();
      ok = msg.find(needle) != std::string::npos;
    }
    h.verdict(ok, what + ": " + msg);
  };
  expect_error("conv2d_forward with k=2 throws naming the op", "conv2d_forward",
               [&] { b.conv2d_forward(nullptr, nullptr, nullptr, nullptr, 1, 1, 4, 4, 1, 2); });
  const auto ints = [&](std::vector<int32_t> v) {
    auto* p = static_cast<int32_t*>(b.alloc(v.size() * sizeof(int32_t)));
    b.upload(p, v.data(), v.size() * sizeof(int32_t));
    return p;
  };
  float* table = static_cast<float*>(b.alloc(1000 * 4 * sizeof(float)));
  float* out = static_cast<float*>(b.alloc(8 * sizeof(float)));
  b.fill(table, 1.0f, 1000 * 4);
  int32_t* t = ints({3, 1000});
  int32_t* labels = ints({1, 11});
  expect_error("embedding_gather with t=1000 >= T throws", "embedding_gather",
               [&] { b.embedding_gather(table, t, out, 2, 4, 1000); });
  expect_error("class_embed_add with label 11 >= K throws", "label 11 of sample 1",
               [&] { b.class_embed_add(table, labels, out, 2, 4, 11); });
  b.fill(out, 2.0f, 8);
  b.clamp(out, out, 8, -0.5f, 0.5f);
  std::vector<float> got(8);
  b.download(got.data(), out, sizeof(float) * 8);
  h.report("backend usable after a reported error", got, std::vector<float>(8, 0.5f), Tol{0.0, 0.0});
  for (void* p : {static_cast<void*>(table), static_cast<void*>(out), static_cast<void*>(t), static_cast<void*>(labels)})
    b.free(p);
}

// ---- main -----------------------------------------------------------------------------------
constexpr int kUnavailable = 77;

struct Options {
  std::string backend = "cpu";
  std::vector<Precision> precisions = {Precision::kFp32, Precision::kTf32, Precision::kBf16};
  int device = 0;
  bool quick = false, list = false;
  std::string filter;
};

int usage(const std::string& why) {
  std::fprintf(stderr,
               "test_backend_ops: %s\n"
               "usage: test_backend_ops [--backend cpu|cuda] [--precision fp32|tf32|bf16|all] [--device N]\n"
               "                        [--quick] [--list] [FILTER]\n",
               why.c_str());
  return 2;
}

// The backend under test, or nullptr with the reason it is not available here.
std::unique_ptr<Backend> backend_under_test(const Options& o, Precision p, std::string* why) {
  if (o.backend == "cpu") {
    if (p == Precision::kBf16 && !cpu::gemm_cpu_has_bf16()) {
      *why = "precision bf16 on the CPU needs AVX512_BF16, which this CPU does not have";
      return nullptr;
    }
    // One worker (the reference has all cores): results must not depend on it.
    return std::unique_ptr<Backend>(cpu::create_backend(1, p));
  }
#ifdef DDPM_WITH_CUDA
  const int probe = api::cuda_device_count();
  if (probe <= 0 || cuda::device_count() <= o.device) {
    *why = "no CUDA device " + std::to_string(o.device) + " here (" +
           (probe <= 0 ? api::cuda_probe_error() : std::to_string(cuda::device_count()) + " devices") + ")";
    return nullptr;
  }
  return std::unique_ptr<Backend>(cuda::create_cuda_backend(o.device, p));
#else
  *why = "this build has no CUDA backend";
  return nullptr;
#endif
}

int run(const Options& o) {
  const CaseList L = all_cases(o.quick);
  if (o.list) {
    for (const auto& c : L.cases()) std::printf("%s\n", c->label().c_str());
    return 0;
  }
  std::unique_ptr<Backend> ref(create_cpu_backend(0));
  int checks = 0, failures = 0, ran = 0;
  std::string unavailable;
  for (Precision p : o.precisions) {
    if (o.backend == "cpu" && p == Precision::kTf32 && o.precisions.size() > 1) continue;  // the CPU's tf32 is fp32
    std::string why;
    std::unique_ptr<Backend> test = backend_under_test(o, p, &why);
    if (!test) {
      std::printf("SKIP  %s %s: %s\n", o.backend.c_str(), precision_name(p), why.c_str());
      unavailable += why;
      continue;
    }
    ++ran;
    const bool exact = o.backend == "cpu" && p != Precision::kBf16;
    std::printf("== %s (%s) in precision %s against the CPU in float32 (%s)%s ==\n", test->name().c_str(),
                test->device_name().c_str(), precision_name(p), ref->device_name().c_str(),
                exact ? ": must match bit for bit" : "");
    Harness h{*ref, *test, p, exact};
    every_op_has_a_case(h, L);
    if (o.filter.empty()) {
      memory_check(h);
      error_check(h);
    }
    for (const auto& c : L.cases())
      if (o.filter.empty() || c->label().find(o.filter) != std::string::npos) c->run(h);
    std::printf("%s %s: %d checks, %d failed\n", test->name().c_str(), precision_name(p), h.checks, h.failures);
    checks += h.checks;
    failures += h.failures;
  }
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  if (failures > 0) return 1;
  return ran == 0 ? kUnavailable : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--backend" && has_value) {
      o.backend = argv[++i];
      if (o.backend != "cpu" && o.backend != "cuda") return usage("--backend is cpu or cuda, not " + o.backend);
    } else if (a == "--precision" && has_value) {
      const std::string p = argv[++i];
      try {
        if (p != "all") o.precisions = {parse_precision(p)};
      } catch (const Error& e) {
        return usage(e.what());
      }
    } else if (a == "--device" && has_value) {
      o.device = std::atoi(argv[++i]);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--list") {
      o.list = true;
    } else if (!a.empty() && a[0] != '-' && o.filter.empty()) {
      o.filter = a;
    } else {
      return usage("unknown argument " + a);
    }
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test_backend_ops: %s\n", e.what());
    return 1;
  }
}
