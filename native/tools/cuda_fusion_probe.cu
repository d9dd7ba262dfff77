// cuda_fusion_probe: which of the seed UNet's 3x3 convolutions cuDNN 9's
// runtime fusion engines run as one fused kernel on this GPU, how fast against
// the unfused path that ddpm4j runs today, and how exactly (issue 9, first
// step). One run answers it, so a device session spends its minutes running,
// not building.
//
//   cuda_fusion_probe [--quick] [--batch N] [--device N] [--budget-s S]
//                     [--only VARIANT[,VARIANT...]]
//                     [--deviceless DEVICE_PROPERTIES.json|h200] [--self-test]
//
// For every distinct (C_in, H, W, C_out) of the seed model's 3x3 convolutions
// (base 64, depth 4, 32x32: conv1, down1-4, up1-4, two convs each, the up
// blocks' first conv on the concatenated channels) at batch 512 (--quick: two
// of them at batch 8), it builds cuDNN backend operation graphs, bf16
// channels-last tensors (dims [N,C,H,W], strides [HWC,1,WC,C]; filters KRSC),
// fp32 compute and fp32 virtual intermediates:
//   full        x -> *scale[C] -> +bias[C] -> +temb[N,C] -> ReLU -> conv3x3 -> y,
//               GENSTATS(y): sum[K], sqsum[K]          (the brief's pattern)
//   no-temb     the same without +temb                  (the seed's second conv
//               of every block: relu(BN1(z1)) -> conv)
//   conv-only   full without GENSTATS
//   temb-add    x -> +temb -> conv3x3 -> y, GENSTATS    (the first conv of conv1
//               and down1-4, whose input is maxpool(...) + te; those shapes only)
//   wgrad       x -> *scale -> +bias -> ReLU -> CONVOLUTION_BACKWARD_FILTER with
//               dy -> dw: the weight gradient with the prologue recomputed
//   dgrad-drelu dy -> CONVOLUTION_BACKWARD_DATA with w -> dA; z = x*scale+bias
//               recomputed; RELU_BWD(dA, z) -> dz: the data gradient with the
//               previous BatchNorm's ReLU derivative fused
// (In the seed model the time embedding is added after a block's last ReLU,
// y2 = relu(BN(z2)) + te, and reaches the next conv through maxpool or
// convT + concat; so full's +temb-before-ReLU matches no conv of the model
// exactly: no-temb and temb-add are the model's own prologues.)
//
// Each graph goes through engine heuristics (mode A, then FALLBACK); the
// returned engine configs are tried in order until one finalizes as an
// execution plan. If none does, the graph is UNSUPPORTED: the status, every
// engine's refusal (cudnnGetLastErrorString) and cuDNN's own reasons (its
// warnings, through cudnnSetCallback) are the finding. Then the same graph
// is tried with bf16 scale/bias/temb and virtual tensors, and with fp16 I/O
// (cuDNN's specialized conv-BatchNorm engines match fp16 inputs only); the
// line names the types that planned. Supported plans run on random inputs
// (bf16-representable; x, w, dy ~ U[-1,1] so ReLU clips about half and the
// conv's sums cancel, making layout mistakes visible; scale ~ U[0.5,1.5];
// bias, temb ~ U[-0.5,0.5]) and are compared with a host reference in double
// from the same bf16 values, on a sample of outputs (all of the output at
// small shapes):
//   y / dw / dz  |got - ref| <= atol + rtol*|ref|, rtol 1e-2, atol 1e-2 *
//                rms(ref); the forward and wgrad references come twice, with
//                the prologue's output kept in fp32 and rounded to bf16, and
//                the line says which the engine matches better;
//   sums         cuDNN's sum and sqsum against those of the returned bf16 y,
//                in double, within 1e-3 of the channel's sum|y| (sum y^2).
// The unfused path it would replace runs from the same handle and is checked
// the same way (its numbers void the comparison if they are wrong): a CUDA
// kernel for the prologue into a bf16 buffer, cudnnConvolutionForward /
// BackwardFilter / BackwardData (legacy API, NHWC bf16, algorithm from
// cudnnFind*), a per-channel sum/sqsum kernel, or a dReLU kernel. Times are the
// median of 20 runs after 5 warm-ups (cudaEvent).
//
// Passes run the brief's three forward variants over all shapes first, then
// temb-add, then the backward ones; past --budget-s (100 s) the rest are
// SKIPPED, so a run under a timeout still ends with its summary.
//
// Output: a header (GPU, versions, and cuDNN's JSON of the device's
// properties, for --deviceless), then per (shape, variant)
//   fusion N=512 C=64 H=32 W=32 K=64 full: supported engine=E [notes] ws=..KiB
//     fused 0.123 ms unfused 0.201 ms (1.63x) y max_abs=.. rel=.. PASS
//     (prologue fp32 ...) sums max_rel=.. PASS [unfused y PASS sums PASS]
// or   fusion N=512 C=3 ... full: UNSUPPORTED (status CUDNN_STATUS_..., "message") at <step>
// then one summary line and one JSON object per (shape, variant).
// Exit status: 0 when every supported plan's numbers are right, or there is no
// GPU (it says so); 1 when a supported plan (or the unfused baseline) gives
// wrong numbers or fails to run; 2 on a usage error.
//
// --deviceless plans without a GPU (cuDNN 9.8+ takes the device's properties
// as JSON; "h200" is a built-in approximation from the public specs): graphs,
// heuristics and plan finalization only, nothing runs. cuDNN's precompiled
// engines plan this way; its runtime-compiled ones also need the driver's
// libcuda, so on a machine without one they show as refused for that reason.
//
// --self-test needs no GPU: the shape table against the UNet's own parameter
// table, the host references against naive formulas, every variant's graph
// through cuDNN's finalization, the checks on results that must pass and
// results that must fail, and the output formatting.
//
// Compiled, self-tested and run --deviceless h200 (cuDNN 9.24) on a machine
// without a GPU or libcuda; not yet run on a GPU. Deviceless, bf16 planned
// nowhere (the specialized engines want fp16; the runtime-compiled ones could
// not be tried), while fp16 I/O with fp16 parameters planned no-temb and wgrad
// on every shape but C=3 with a precompiled engine.
// TODO (for the device session, after the first run):
//   - dBN: the DgradDreluBNBwdWeight pattern's BN_BWD_WEIGHTS node (dscale,
//     dbias and the equivalent scales) after dgrad-drelu, once dgrad-drelu's
//     support is known;
//   - the BN finalize (CUDNN_BACKEND_OPERATION_BN_FINALIZE_STATISTICS) that
//     turns genstats' sums into the next prologue's scale/bias;
//   - kernel cache (CUDNN_ATTR_EXECUTION_PLAN_KERNEL_CACHE) and plan JSON
//     serialization, if the runtime compilation time matters;
//   - cudnnBackendPopulateCudaGraph for the recorded training step.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/unet.h"
#include "testing.h"

namespace {

using ddpm::testing::round_bf16;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- tolerances --------------------------------------------------------------
constexpr double kOutRtol = 1e-2;      // y, dw, dz: bf16 outputs
constexpr double kOutAtolRms = 1e-2;   // ... plus this fraction of the reference's rms
constexpr double kSumsRel = 1e-3;      // sum (sqsum) within this fraction of sum|y| (sum y^2)
// Sampled checks cost about this many multiply-adds per reference (the host
// reference is double precision, on all host cores).
constexpr double kReferenceMacs = 4e8;

// ---- small helpers ---------------------------------------------------------------
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

uint16_t bf16_bits(float f) {
  const float r = round_bf16(f);
  uint32_t u;
  std::memcpy(&u, &r, 4);
  return static_cast<uint16_t>(u >> 16);
}
float bf16_value(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half precision, for the fp16-I/O attempts (every input here is
// bf16-representable in [-1.5, 1.5], which fp16 holds exactly unless tiny).
uint16_t fp16_bits(float f) {
  const __half h = __float2half_rn(f);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
float fp16_value(uint16_t b) {
  __half h;
  std::memcpy(&h, &b, 2);
  return __half2float(h);
}
// 16-bit values of a data type (bf16 or fp16) to floats and back.
std::vector<float> decode16(const std::vector<uint16_t>& bits, cudnnDataType_t type) {
  std::vector<float> out(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) out[i] = type == CUDNN_DATA_HALF ? fp16_value(bits[i]) : bf16_value(bits[i]);
  return out;
}
std::vector<uint16_t> encode16(const std::vector<float>& v, cudnnDataType_t type) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = type == CUDNN_DATA_HALF ? fp16_bits(v[i]) : bf16_bits(v[i]);
  return out;
}

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) out += strf("\\u%04x", ch);
        else out += static_cast<char>(ch);
    }
  }
  return out;
}
// A JSON number, or null for NaN / infinity.
std::string json_num(double v) { return std::isfinite(v) ? strf("%.6g", v) : "null"; }

// f(i) for i in [0, n) on all host cores (the device host has many; the
// double-precision references are the slow part of a probe).
void parallel_for(int64_t n, const std::function<void(int64_t)>& f) {
  const int threads = static_cast<int>(std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), 64));
  if (threads <= 1 || n < 64) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<int64_t> next{0};
  const int64_t chunk = std::max<int64_t>(1, n / (threads * 8));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int64_t b; (b = next.fetch_add(chunk)) < n;)
        for (int64_t i = b; i < std::min(n, b + chunk); ++i) f(i);
    });
  for (auto& th : pool) th.join();
}

// splitmix64: a counter-based stream, so a tensor's values do not depend on
// how many threads draw them.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
double uniform_at(uint64_t seed, uint64_t stream, uint64_t i) {
  return (mix64(mix64(seed * 0x100000001b3ull + stream) ^ i) >> 11) * 0x1.0p-53;
}

// ---- the shape table -----------------------------------------------------------
// One 3x3 convolution of the UNet: its state_dict weight name (without
// ".weight"), input channels, spatial size and output channels.
struct SeedConv {
  std::string name;
  int cin, H, W, cout;
};

// The 3x3 convolutions in the order native/core/unet.cpp builds them:
// double_conv blocks of (conv .0: cin -> cout, BN, ReLU, conv .3: cout ->
// cout, BN, ReLU) for conv1 (in_channels -> base, level 0), down_i (width(i-1)
// -> width(i) at level i) and up_j (output level l = D - j, its input the
// upsampled width(l) channels concatenated with the skip's width(l)).
std::vector<SeedConv> seed_convs(const ddpm::UNetConfig& cfg) {
  const int D = cfg.depth;
  auto width = [&](int level) { return cfg.base_width << level; };
  std::vector<SeedConv> out;
  auto block = [&](const std::string& prefix, int cin, int cout, int level) {
    const int H = cfg.height >> level, W = cfg.width >> level;
    out.push_back({prefix + ".0", cin, H, W, cout});
    out.push_back({prefix + ".3", cout, H, W, cout});
  };
  block("conv1.conv", cfg.in_channels, width(0), 0);
  for (int i = 1; i <= D; ++i) block("down" + std::to_string(i) + ".conv.conv", width(i - 1), width(i), i);
  for (int j = 1; j <= D; ++j) {
    const int level = D - j;
    block("up" + std::to_string(j) + ".conv.conv", width(level) + width(level), width(level), level);
  }
  return out;
}

// A problem the probe runs: one distinct convolution geometry, the convs of
// the model that have it, and whether one of them is the first conv of conv1
// or a down block (whose input is maxpool(...) + te: the temb-add prologue).
struct ProbeShape {
  int C, H, W, K;
  std::vector<std::string> convs;
  bool block_input = false;
};

std::vector<ProbeShape> distinct_shapes(const std::vector<SeedConv>& convs) {
  std::vector<ProbeShape> out;
  for (const SeedConv& c : convs) {
    auto it = std::find_if(out.begin(), out.end(), [&](const ProbeShape& s) {
      return s.C == c.cin && s.H == c.H && s.W == c.W && s.K == c.cout;
    });
    if (it == out.end()) {
      out.push_back({c.cin, c.H, c.W, c.cout, {}, false});
      it = out.end() - 1;
    }
    it->convs.push_back(c.name);
    const bool first_conv = c.name.size() > 2 && c.name.compare(c.name.size() - 2, 2, ".0") == 0;
    if (first_conv && c.name.rfind("up", 0) != 0) it->block_input = true;
  }
  return out;
}

ddpm::UNetConfig seed_config() {
  ddpm::UNetConfig cfg;  // the defaults are the seed notebook's model
  cfg.base_width = 64;
  cfg.depth = 4;
  cfg.height = cfg.width = 32;
  cfg.in_channels = 3;
  return cfg;
}

// The shapes a run probes: every distinct seed conv, or with --quick two of
// them (the second conv of conv1 and of down2), to run at a small batch.
std::vector<ProbeShape> probe_shapes(bool quick) {
  std::vector<ProbeShape> all = distinct_shapes(seed_convs(seed_config()));
  if (!quick) return all;
  std::vector<ProbeShape> out;
  for (const ProbeShape& s : all)
    for (const std::string& n : s.convs)
      if (n == "conv1.conv.3" || n == "down2.conv.conv.3") out.push_back(s);
  return out;
}

// ---- the patterns -------------------------------------------------------------------
// The pointwise prologue on the convolution's input (or, for dgrad-drelu,
// the recomputed pre-activation z, without the ReLU).
struct Prologue {
  bool scale_bias = false, temb = false, relu = false;
};
enum class Kind { kForward, kWgrad, kDgradDrelu };
struct Variant {
  const char* name;
  Kind kind;
  Prologue prologue;
  bool genstats;
};
const Variant kVariants[] = {
    {"full", Kind::kForward, {true, true, true}, true},
    {"no-temb", Kind::kForward, {true, false, true}, true},
    {"conv-only", Kind::kForward, {true, true, true}, false},
    {"temb-add", Kind::kForward, {false, true, false}, true},
    {"wgrad", Kind::kWgrad, {true, false, true}, false},
    {"dgrad-drelu", Kind::kDgradDrelu, {true, false, false}, false},
};
bool applies(const Variant& v, const ProbeShape& s) {
  return std::strcmp(v.name, "temb-add") != 0 || s.block_input;
}
const char* output_name(Kind k) { return k == Kind::kForward ? "y" : k == Kind::kWgrad ? "dw" : "dz"; }

// ---- host data and the reference -------------------------------------------------------
struct Problem {
  int N, C, H, W, K;
  int64_t pixels() const { return static_cast<int64_t>(N) * H * W; }
};

// Every value is bf16-representable, so the GPU and the reference start from
// the same numbers. Layouts: x [N][H][W][C], w [K][3][3][C], dy [N][H][W][K],
// temb [N][C].
struct HostInputs {
  Problem p;
  std::vector<uint16_t> x, w, dy;
  std::vector<float> scale, bias, temb;
};

std::vector<uint16_t> random_bf16(size_t n, uint64_t seed, uint64_t stream, float lo, float hi) {
  std::vector<uint16_t> v(n);
  constexpr int64_t kChunk = 1 << 16;
  parallel_for((static_cast<int64_t>(n) + kChunk - 1) / kChunk, [&](int64_t b) {
    for (int64_t i = b * kChunk; i < std::min<int64_t>(n, (b + 1) * kChunk); ++i)
      v[i] = bf16_bits(static_cast<float>(lo + (hi - lo) * uniform_at(seed, stream, i)));
  });
  return v;
}
std::vector<float> random_bf16_values(size_t n, uint64_t seed, uint64_t stream, float lo, float hi) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = round_bf16(static_cast<float>(lo + (hi - lo) * uniform_at(seed, stream, i)));
  return v;
}

HostInputs make_inputs(const Problem& p, uint64_t seed, bool with_dy) {
  HostInputs in;
  in.p = p;
  in.x = random_bf16(p.pixels() * p.C, seed, 1, -1.0f, 1.0f);
  in.w = random_bf16(static_cast<size_t>(p.K) * 9 * p.C, seed, 2, -1.0f, 1.0f);
  in.scale = random_bf16_values(p.C, seed, 3, 0.5f, 1.5f);
  in.bias = random_bf16_values(p.C, seed, 4, -0.5f, 0.5f);
  in.temb = random_bf16_values(static_cast<size_t>(p.N) * p.C, seed, 5, -0.5f, 0.5f);
  if (with_dy) in.dy = random_bf16(p.pixels() * p.K, seed, 6, -1.0f, 1.0f);
  return in;
}

// The prologue at input element (n, h, w, c) in double, before any rounding
// (relu_applied false: the pre-activation, for dgrad-drelu's z).
double prologue_value(const HostInputs& in, const Prologue& pro, int64_t n, int64_t h, int64_t w, int c) {
  const Problem& p = in.p;
  double v = bf16_value(in.x[((n * p.H + h) * p.W + w) * p.C + c]);
  if (pro.scale_bias) v = v * in.scale[c] + in.bias[c];
  if (pro.temb) v += in.temb[n * p.C + c];
  if (pro.relu) v = std::max(v, 0.0);
  return v;
}

struct Pixel {
  int n, h, w;
};
// The outputs a check compares: every pixel when that is affordable, else
// the four corners of the first and last image (the padding) and a random
// sample, so that about kReferenceMacs multiply-adds are spent.
std::vector<Pixel> sample_pixels(const Problem& p, int64_t macs_per_pixel, uint64_t seed) {
  const int64_t all = p.pixels();
  const int64_t want = std::max<int64_t>(16, static_cast<int64_t>(kReferenceMacs / std::max<int64_t>(1, macs_per_pixel)));
  std::vector<Pixel> out;
  if (want >= all) {
    for (int n = 0; n < p.N; ++n)
      for (int h = 0; h < p.H; ++h)
        for (int w = 0; w < p.W; ++w) out.push_back({n, h, w});
    return out;
  }
  for (int n : {0, p.N - 1})
    for (int h : {0, p.H - 1})
      for (int w : {0, p.W - 1}) out.push_back({n, h, w});
  for (int64_t i = 0; static_cast<int64_t>(out.size()) < want; ++i) {
    const int64_t k = static_cast<int64_t>(uniform_at(seed, 7, i) * all) % all;
    out.push_back({static_cast<int>(k / (p.H * p.W)), static_cast<int>(k / p.W % p.H), static_cast<int>(k % p.W)});
  }
  return out;
}

struct FilterEntry {
  int k, r, s, c;
};
std::vector<FilterEntry> sample_filter(const Problem& p, uint64_t seed) {
  const int64_t all = static_cast<int64_t>(p.K) * 9 * p.C;
  const int64_t want = std::max<int64_t>(16, static_cast<int64_t>(kReferenceMacs / p.pixels()));
  std::vector<FilterEntry> out;
  for (int64_t i = 0; i < std::min(all, want); ++i) {
    const int64_t e = want >= all ? i : static_cast<int64_t>(uniform_at(seed, 8, i) * all) % all;
    out.push_back({static_cast<int>(e / (9 * p.C)), static_cast<int>(e / (3 * p.C) % 3), static_cast<int>(e / p.C % 3),
                   static_cast<int>(e % p.C)});
  }
  return out;
}

// The forward reference at the sampled pixels, [pixel][K], twice: [0] with
// the prologue's output kept exact (an fp32 virtual tensor), [1] with it
// rounded to bf16 (what a bf16 buffer between two kernels holds).
std::array<std::vector<double>, 2> forward_reference(const HostInputs& in, const Prologue& pro,
                                                     const std::vector<Pixel>& px) {
  const Problem& p = in.p;
  std::vector<float> w(in.w.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = bf16_value(in.w[i]);
  std::array<std::vector<double>, 2> out;
  for (auto& o : out) o.assign(px.size() * p.K, 0.0);
  parallel_for(static_cast<int64_t>(px.size()), [&](int64_t i) {
    const Pixel& q = px[i];
    std::vector<double> a32(9 * p.C, 0.0), a16(9 * p.C, 0.0);  // the 3x3 patch, zero padded
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) {
        const int h = q.h + r - 1, x = q.w + s - 1;
        if (h < 0 || h >= p.H || x < 0 || x >= p.W) continue;
        for (int c = 0; c < p.C; ++c) {
          const double a = prologue_value(in, pro, q.n, h, x, c);
          a32[(r * 3 + s) * p.C + c] = a;
          a16[(r * 3 + s) * p.C + c] = round_bf16(static_cast<float>(a));
        }
      }
    for (int k = 0; k < p.K; ++k) {
      const float* wk = &w[static_cast<size_t>(k) * 9 * p.C];
      double y32 = 0, y16 = 0;
      for (int j = 0; j < 9 * p.C; ++j) {
        y32 += a32[j] * wk[j];
        y16 += a16[j] * wk[j];
      }
      out[0][i * p.K + k] = y32;
      out[1][i * p.K + k] = y16;
    }
  });
  return out;
}

// dw at the sampled filter entries: sum over (n, h, w) of the prologue's
// output at the shifted input times dy; [0] exact prologue, [1] bf16-rounded.
std::array<std::vector<double>, 2> wgrad_reference(const HostInputs& in, const Prologue& pro,
                                                   const std::vector<FilterEntry>& entries) {
  const Problem& p = in.p;
  std::array<std::vector<double>, 2> out;
  for (auto& o : out) o.assign(entries.size(), 0.0);
  parallel_for(static_cast<int64_t>(entries.size()), [&](int64_t i) {
    const FilterEntry& e = entries[i];
    double g32 = 0, g16 = 0;
    for (int n = 0; n < p.N; ++n)
      for (int h = 0; h < p.H; ++h)
        for (int w = 0; w < p.W; ++w) {
          const int ih = h + e.r - 1, iw = w + e.s - 1;
          if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
          const double a = prologue_value(in, pro, n, ih, iw, e.c);
          const double d = bf16_value(in.dy[((static_cast<int64_t>(n) * p.H + h) * p.W + w) * p.K + e.k]);
          g32 += a * d;
          g16 += round_bf16(static_cast<float>(a)) * d;
        }
    out[0][i] = g32;
    out[1][i] = g16;
  });
  return out;
}

// dz at the sampled input pixels, [pixel][C]: the data gradient dA (a gather
// over the 3x3 window of dy) masked by the recomputed pre-activation z > 0.
// Elements whose z is exactly 0 are marked in dont_care (ReLU's derivative
// there is a convention).
std::vector<double> dgrad_drelu_reference(const HostInputs& in, const Prologue& pro, const std::vector<Pixel>& px,
                                          std::vector<char>* dont_care) {
  const Problem& p = in.p;
  std::vector<float> w(in.w.size());
  for (size_t i = 0; i < w.size(); ++i) w[i] = bf16_value(in.w[i]);
  std::vector<double> out(px.size() * p.C, 0.0);
  dont_care->assign(px.size() * p.C, 0);
  parallel_for(static_cast<int64_t>(px.size()), [&](int64_t i) {
    const Pixel& q = px[i];
    std::vector<double> da(p.C, 0.0);
    for (int r = 0; r < 3; ++r)
      for (int s = 0; s < 3; ++s) {
        const int h = q.h - r + 1, x = q.w - s + 1;  // the output pixel that saw this input at tap (r, s)
        if (h < 0 || h >= p.H || x < 0 || x >= p.W) continue;
        const uint16_t* dyp = &in.dy[((static_cast<int64_t>(q.n) * p.H + h) * p.W + x) * p.K];
        for (int k = 0; k < p.K; ++k) {
          const double d = bf16_value(dyp[k]);
          const float* wk = &w[(static_cast<size_t>(k) * 9 + r * 3 + s) * p.C];
          for (int c = 0; c < p.C; ++c) da[c] += d * wk[c];
        }
      }
    for (int c = 0; c < p.C; ++c) {
      const double z = prologue_value(in, pro, q.n, q.h, q.w, c);
      out[i * p.C + c] = z > 0 ? da[c] : 0.0;
      (*dont_care)[i * p.C + c] = z == 0;
    }
  });
  return out;
}

// ---- checks -----------------------------------------------------------------------------
struct Check {
  bool ran = false, pass = false;
  double max_abs = kNaN, rel = kNaN;  // rel: ||got - ref|| / ||ref|| (outputs), max err/scale (sums)
  int64_t count = 0;
  std::string note;
};

// got against ref elementwise: |got - ref| <= atol + rtol |ref| with atol a
// fraction of the reference's rms; non-finite values fail.
Check check_close(const std::vector<double>& got, const std::vector<double>& ref, const std::vector<char>* dont_care = nullptr) {
  Check c;
  c.ran = true;
  std::vector<double> g = got;
  if (dont_care)
    for (size_t i = 0; i < g.size(); ++i)
      if ((*dont_care)[i]) g[i] = ref[i];
  double ss_ref = 0, ss_err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    ss_ref += ref[i] * ref[i];
    ss_err += (g[i] - ref[i]) * (g[i] - ref[i]);
  }
  const double atol = kOutAtolRms * std::sqrt(ss_ref / std::max<size_t>(1, ref.size()));
  const auto r = ddpm::testing::compare(g.data(), ref.data(), ref.size(), atol, kOutRtol);
  c.max_abs = r.max_abs;
  c.rel = ss_ref > 0 ? std::sqrt(ss_err / ss_ref) : std::sqrt(ss_err);
  c.count = static_cast<int64_t>(ref.size());
  c.pass = r.ok && std::isfinite(ss_err);
  if (!r.ok) c.note = strf("worst element %zu: got %.6g, expected %.6g", r.worst, r.worst_actual, r.worst_ref);
  return c;
}

// The GPU's per-channel sum and sqsum of y against those of the returned
// y (bf16 or fp16, as floats) in double, each within kSumsRel of the channel's sum|y| (sum y^2).
Check check_sums(const std::vector<float>& y, int64_t rows, int K, const std::vector<float>& sum,
                 const std::vector<float>& sqsum) {
  std::vector<double> s(K, 0.0), q(K, 0.0), a(K, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int k = 0; k < K; ++k) {
      const double v = y[r * K + k];
      s[k] += v;
      q[k] += v * v;
      a[k] += std::fabs(v);
    }
  Check c;
  c.ran = true;
  c.pass = true;
  c.max_abs = 0;
  c.rel = 0;
  c.count = 2 * K;
  for (int k = 0; k < K; ++k) {
    const double es = std::fabs(sum[k] - s[k]), eq = std::fabs(sqsum[k] - q[k]);
    const double rs = a[k] > 0 ? es / a[k] : es, rq = q[k] > 0 ? eq / q[k] : eq;
    const bool ok = std::isfinite(rs) && std::isfinite(rq) && rs <= kSumsRel && rq <= kSumsRel;
    if (!ok && c.pass)
      c.note = strf("channel %d: sum %.6g (expected %.6g), sqsum %.6g (expected %.6g)", k, sum[k], s[k], sqsum[k], q[k]);
    c.pass = c.pass && ok;
    c.max_abs = std::max({c.max_abs, es, eq});
    c.rel = std::max({c.rel, rs, rq});
    if (!std::isfinite(es) || !std::isfinite(eq)) c.max_abs = c.rel = INFINITY;
  }
  return c;
}

// Data types of one attempt at a graph.
struct Types {
  cudnnDataType_t io, params, intermediate;
  const char* label;
};
// The brief's types first; the others only when it is refused: bf16
// parameters and intermediates, then fp16 I/O (cuDNN's specialized
// conv-BN engines match fp16 inputs only).
const Types kTypeAttempts[] = {
    {CUDNN_DATA_BFLOAT16, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, "bf16 I/O, fp32 params/virtual"},
    {CUDNN_DATA_BFLOAT16, CUDNN_DATA_BFLOAT16, CUDNN_DATA_BFLOAT16, "bf16 I/O, bf16 params/virtual"},
    {CUDNN_DATA_HALF, CUDNN_DATA_HALF, CUDNN_DATA_HALF, "fp16 I/O, fp16 params/virtual"},
    {CUDNN_DATA_HALF, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT, "fp16 I/O, fp32 params/virtual"}};

// ---- results and their output ------------------------------------------------------
enum class State { kSkipped, kUnsupported, kSupported, kError };
struct Result {
  Problem p{};
  const ProbeShape* shape = nullptr;
  const Variant* variant = nullptr;
  State state = State::kSkipped;
  std::string reason;  // skipped: why
  // The first attempt's (the brief's types) refusal: status, message, the
  // call that failed; then each later attempt's that was refused too.
  std::string status, message, step;
  struct Retry {
    std::string types, status, message;
  };
  std::vector<Retry> retries;
  std::string error;  // kError: what failed
  // supported
  std::string types;  // the attempt that planned (a Types label)
  int64_t engine = -1;
  std::string engine_notes, heuristic;
  int cfg_index = 0, cfg_count = 0;
  int64_t workspace = 0;
  double fused_ms = kNaN, unfused_ms = kNaN;
  Check out, sums, base_out, base_sums;
  std::string prologue_match;  // "fp32" / "bf16" / "" (not applicable)
  double rel_fp32 = kNaN, rel_bf16 = kNaN;
  std::string sums_semantics;  // "overwrites" / "accumulates"
  bool planned_only = false;   // --deviceless: planned, never run
  bool numbers_ok() const {
    if (state == State::kError) return false;
    if (state != State::kSupported) return true;
    auto ok = [](const Check& c) { return !c.ran || c.pass; };
    return ok(out) && ok(sums) && ok(base_out) && ok(base_sums);
  }
  double speedup() const { return unfused_ms / fused_ms; }
  double tflops() const {
    return 2.0 * p.pixels() * p.K * p.C * 9 / (fused_ms * 1e-3) / 1e12;
  }
};

Result new_result(const ProbeShape& shape, const Problem& p, const Variant& v) {
  Result r;
  r.p = p;
  r.shape = &shape;
  r.variant = &v;
  return r;
}

const char* pass_word(const Check& c) { return c.pass ? "PASS" : "FAIL"; }

std::string shape_prefix(const Result& r) {
  return strf("fusion N=%d C=%d H=%d W=%d K=%d %s:", r.p.N, r.p.C, r.p.H, r.p.W, r.p.K, r.variant->name);
}

// One line per (shape, variant), whatever cuDNN's messages hold.
std::string one_line(std::string s) {
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return s;
}

std::string format_line(const Result& r) {
  std::string s = shape_prefix(r);
  switch (r.state) {
    case State::kSkipped:
      return s + " SKIPPED (" + r.reason + ")";
    case State::kError:
      return one_line(s + " ERROR (" + r.error + ")");
    case State::kUnsupported:
      s += strf(" UNSUPPORTED (status %s, \"%s\") at %s", r.status.c_str(), r.message.c_str(), r.step.c_str());
      for (const Result::Retry& t : r.retries) s += "; " + t.types + ": " + t.status;
      return one_line(s);
    case State::kSupported:
      break;
  }
  s += strf(" supported engine=%lld", static_cast<long long>(r.engine));
  if (!r.engine_notes.empty()) s += " [" + r.engine_notes + "]";
  s += strf(" ws=%lldKiB", static_cast<long long>((r.workspace + 1023) / 1024));
  if (r.types != kTypeAttempts[0].label) s += " (" + r.types + ")";
  if (r.planned_only) return s + strf(" (mode %s, config %d of %d; planned without a GPU, not run)", r.heuristic.c_str(),
                                      r.cfg_index, r.cfg_count);
  s += strf(" fused %.3f ms unfused %.3f ms (%.2fx)", r.fused_ms, r.unfused_ms, r.speedup());
  const char* o = output_name(r.variant->kind);
  s += strf(" %s max_abs=%.3g rel=%.2e %s", o, r.out.max_abs, r.out.rel, pass_word(r.out));
  if (!r.prologue_match.empty())
    s += strf(" (prologue %s: rel %.2e if fp32, %.2e if bf16)", r.prologue_match.c_str(), r.rel_fp32, r.rel_bf16);
  if (r.sums.ran) s += strf(" sums max_rel=%.2e %s (%s)", r.sums.rel, pass_word(r.sums), r.sums_semantics.c_str());
  s += strf(" [unfused %s %s", o, pass_word(r.base_out));
  if (r.base_sums.ran) s += strf(" sums %s", pass_word(r.base_sums));
  s += "]";
  for (const Check* c : {&r.out, &r.sums, &r.base_out, &r.base_sums})
    if (c->ran && !c->pass && !c->note.empty()) s += "; " + c->note;
  return one_line(s);
}

std::string json_check(const char* name, const Check& c) {
  if (!c.ran) return strf("\"%s\":null", name);
  return strf("\"%s\":{\"pass\":%s,\"max_abs\":%s,\"rel\":%s,\"count\":%lld}", name, c.pass ? "true" : "false",
              json_num(c.max_abs).c_str(), json_num(c.rel).c_str(), static_cast<long long>(c.count));
}

std::string format_json(const Result& r) {
  static const char* kStates[] = {"skipped", "unsupported", "supported", "error"};
  std::string convs;
  for (const std::string& c : r.shape->convs) convs += (convs.empty() ? "\"" : ",\"") + json_escape(c) + "\"";
  std::string s = strf("{\"probe\":\"cuda_fusion\",\"n\":%d,\"c\":%d,\"h\":%d,\"w\":%d,\"k\":%d,\"variant\":\"%s\",", r.p.N,
                       r.p.C, r.p.H, r.p.W, r.p.K, r.variant->name);
  s += "\"convs\":[" + convs + "],\"state\":\"" + kStates[static_cast<int>(r.state)] + "\"";
  s += ",\"supported\":" + std::string(r.state == State::kSupported ? "true" : "false");
  auto str = [](const char* k, const std::string& v) {
    return v.empty() ? strf(",\"%s\":null", k) : strf(",\"%s\":\"", k) + json_escape(v) + "\"";
  };
  s += str("status", r.status) + str("message", r.message) + str("step", r.step) + str("error", r.error) +
       str("skipped", r.reason) + ",\"retries\":[";
  for (size_t i = 0; i < r.retries.size(); ++i)
    s += std::string(i ? "," : "") + "{\"types\":\"" + json_escape(r.retries[i].types) + "\",\"status\":\"" +
         json_escape(r.retries[i].status) + "\",\"message\":\"" + json_escape(r.retries[i].message) + "\"}";
  s += "]";
  s += str("types", r.types) + strf(",\"engine\":%lld", static_cast<long long>(r.engine)) +
       str("engine_notes", r.engine_notes) + str("heuristic", r.heuristic);
  s += strf(",\"cfg_index\":%d,\"cfg_count\":%d,\"workspace_bytes\":%lld", r.cfg_index, r.cfg_count,
            static_cast<long long>(r.workspace));
  s += ",\"fused_ms\":" + json_num(r.fused_ms) + ",\"unfused_ms\":" + json_num(r.unfused_ms) +
       ",\"speedup\":" + json_num(r.speedup()) + ",\"fused_tflops\":" + json_num(r.tflops());
  s += "," + json_check(output_name(r.variant->kind), r.out) + "," + json_check("sums", r.sums) + "," +
       json_check("unfused_out", r.base_out) + "," + json_check("unfused_sums", r.base_sums);
  s += str("prologue_match", r.prologue_match) + ",\"rel_if_fp32_prologue\":" + json_num(r.rel_fp32) +
       ",\"rel_if_bf16_prologue\":" + json_num(r.rel_bf16) + str("sums_semantics", r.sums_semantics);
  s += ",\"planned_only\":" + std::string(r.planned_only ? "true" : "false");
  s += ",\"numbers_ok\":" + std::string(r.numbers_ok() ? "true" : "false") + "}";
  return s;
}

double geometric_mean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x) && x > 0) {
      s += std::log(x);
      ++n;
    }
  return n ? std::exp(s / n) : kNaN;
}

std::string format_summary(const std::vector<Result>& results) {
  int supported = 0, probed = 0, bad = 0, skipped = 0;
  std::vector<double> all;
  std::string per;
  for (const Variant& v : kVariants) {
    int vs = 0, vp = 0;
    std::vector<double> sp;
    for (const Result& r : results) {
      if (r.variant != &v) continue;
      if (r.state == State::kSkipped) {
        ++skipped;
        continue;
      }
      ++vp;
      if (r.state == State::kSupported) {
        ++vs;
        sp.push_back(r.speedup());
        all.push_back(r.speedup());
      }
      if (!r.numbers_ok()) ++bad;
    }
    if (!vp) continue;
    supported += vs;
    probed += vp;
    per += strf("%s%s %d/%d", per.empty() ? "" : ", ", v.name, vs, vp);
    const double g = geometric_mean(sp);
    if (std::isfinite(g)) per += strf(" %.2fx", g);
  }
  const double g = geometric_mean(all);
  return strf("fusion summary: %d/%d (shape, variant) supported (%s); geometric-mean speed-up %s over the supported; "
              "%d with wrong numbers or errors; %d skipped",
              supported, probed, per.c_str(), std::isfinite(g) ? strf("%.2fx", g).c_str() : "n/a (none timed)", bad,
              skipped);
}

// ---- checking one output -------------------------------------------------------------------
// Sampled output values of a channels-last tensor [pixel][channels] at the pixels.
std::vector<double> gather_pixels(const std::vector<float>& t, const Problem& p, int channels,
                                  const std::vector<Pixel>& px) {
  std::vector<double> out(px.size() * channels);
  for (size_t i = 0; i < px.size(); ++i) {
    const int64_t base = ((static_cast<int64_t>(px[i].n) * p.H + px[i].h) * p.W + px[i].w) * channels;
    for (int c = 0; c < channels; ++c) out[i * channels + c] = t[base + c];
  }
  return out;
}
std::vector<double> gather_filter(const std::vector<float>& dw, const Problem& p, const std::vector<FilterEntry>& e) {
  std::vector<double> out(e.size());
  for (size_t i = 0; i < e.size(); ++i)
    out[i] = dw[((static_cast<int64_t>(e[i].k) * 3 + e[i].r) * 3 + e[i].s) * p.C + e[i].c];
  return out;
}
int64_t count_non_finite(const std::vector<float>& t) {
  int64_t n = 0;
  for (float v : t) n += !std::isfinite(v);
  return n;
}

// The references of one (problem, variant), computed once and shared by
// the fused and the unfused check.
struct Reference {
  std::vector<Pixel> pixels;
  std::vector<FilterEntry> entries;
  std::array<std::vector<double>, 2> two;  // forward / wgrad: [0] exact prologue, [1] bf16-rounded
  std::vector<double> one;                 // dgrad-drelu
  std::vector<char> dont_care;
};

Reference make_reference(const HostInputs& in, const Variant& v, uint64_t seed) {
  const Problem& p = in.p;
  Reference r;
  if (v.kind == Kind::kForward) {
    r.pixels = sample_pixels(p, 9LL * p.C * p.K * 2, seed);
    r.two = forward_reference(in, v.prologue, r.pixels);
  } else if (v.kind == Kind::kWgrad) {
    r.entries = sample_filter(p, seed);
    r.two = wgrad_reference(in, v.prologue, r.entries);
  } else {
    r.pixels = sample_pixels(p, 9LL * p.C * p.K, seed);
    r.one = dgrad_drelu_reference(in, v.prologue, r.pixels, &r.dont_care);
  }
  return r;
}

// The output (y, dw or dz, as floats) checked against the reference;
// forward and wgrad against the better of the two prologue hypotheses
// (recorded in r), or with bf16_only against the bf16-rounded one (the
// unfused path's).
Check check_output(const std::vector<float>& out, const Problem& p, const Variant& v, const Reference& ref,
                   bool bf16_only, Result* r) {
  std::vector<double> got;
  if (v.kind == Kind::kWgrad) got = gather_filter(out, p, ref.entries);
  else got = gather_pixels(out, p, v.kind == Kind::kForward ? p.K : p.C, ref.pixels);
  Check c;
  if (v.kind == Kind::kDgradDrelu) {
    c = check_close(got, ref.one, &ref.dont_care);
  } else if (bf16_only) {
    c = check_close(got, ref.two[1]);
  } else {
    const Check c32 = check_close(got, ref.two[0]), c16 = check_close(got, ref.two[1]);
    r->rel_fp32 = c32.rel;
    r->rel_bf16 = c16.rel;
    r->prologue_match = c32.rel <= c16.rel ? "fp32" : "bf16";
    c = c32.rel <= c16.rel ? c32 : c16;
  }
  const int64_t bad = count_non_finite(out);
  if (bad) {
    c.pass = false;
    c.note = strf("%lld non-finite values in the whole output", static_cast<long long>(bad)) + (c.note.empty() ? "" : "; " + c.note);
  }
  return c;
}

}  // namespace

// ===================================================================================
// The GPU side. Everything below is compiled here and runs only with a GPU.
// ===================================================================================
namespace {

// A failed cuDNN call: its name (with the descriptor and attribute for the
// backend API), status and cudnnGetLastErrorString's message.
struct CudnnError : std::runtime_error {
  CudnnError(const std::string& call_, cudnnStatus_t st, const std::string& msg)
      : std::runtime_error(call_ + ": " + cudnnGetErrorString(st) + (msg.empty() ? "" : " (" + msg + ")")),
        call(call_),
        status(st),
        message(msg) {}
  std::string call;
  cudnnStatus_t status;
  std::string message;
};

std::string last_cudnn_message() {
  char buf[4096] = {0};
  cudnnGetLastErrorString(buf, sizeof(buf));
  std::string s = buf;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
void cudnn_check(cudnnStatus_t st, const std::string& call) {
  if (st != CUDNN_STATUS_SUCCESS) throw CudnnError(call, st, last_cudnn_message());
}
void cuda_check(cudaError_t e, const std::string& call) {
  if (e != cudaSuccess)
    throw std::runtime_error(call + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
// cuDNN's own reasons for refusing a graph: the status and "Reason:" of its
// warnings and errors (cudnnSetCallback), collected while a graph is
// planned. Bare call frames ("finalize_internal()", "status") are left out;
// conditions and sentences stay.
class CudnnReasons {
 public:
  static void install() { cudnnSetCallback(CUDNN_SEV_ERROR_EN | CUDNN_SEV_WARNING_EN, nullptr, &CudnnReasons::callback); }
  static void clear() {
    std::lock_guard<std::mutex> lock(mutex());
    reasons().clear();
  }
  // The distinct reasons since clear(), joined, at most max_chars.
  static std::string summary(size_t max_chars = 1500) {
    std::lock_guard<std::mutex> lock(mutex());
    std::string s;
    for (const std::string& r : reasons()) s += (s.empty() ? "" : " | ") + r;
    if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
    return s;
  }
  // One message: lines separated by NULs, the last followed by two.
  static void add_from(const char* msg) {
    for (const char* p = msg; *p; p += std::strlen(p) + 1) add_line(p);
  }
  // "  Warning: CUDNN_STATUS_X; Reason: why" -> "CUDNN_STATUS_X: why".
  static void add_line(const std::string& line) {
    const size_t st = line.find("CUDNN_STATUS_"), why = line.find("Reason: ");
    if (st == std::string::npos || why == std::string::npos || why < st) return;
    const std::string status = line.substr(st, line.find(';', st) - st);
    std::string reason = line.substr(why + 8);
    while (!reason.empty() && std::isspace(static_cast<unsigned char>(reason.back()))) reason.pop_back();
    std::string bare = reason;  // "a->b()" is a frame too
    for (size_t at; (at = bare.find("->")) != std::string::npos;) bare.erase(at, 2);
    const bool frame = bare.find_first_of(" !<>=\"") == std::string::npos;
    if (status == "CUDNN_STATUS_SUCCESS" || frame) return;
    std::lock_guard<std::mutex> lock(mutex());
    const std::string r = status + ": " + reason;
    if (std::find(reasons().begin(), reasons().end(), r) == reasons().end()) reasons().push_back(r);
  }

 private:
  static void callback(cudnnSeverity_t, void*, const cudnnDebug_t*, const char* msg) {
    if (msg) add_from(msg);
  }
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<std::string>& reasons() {
    static std::vector<std::string> r;
    return r;
  }
};

#define CUDA_CHECK(call) cuda_check((call), #call)
#define CUDNN_CHECK(call) cudnn_check((call), #call)
// An attribute's value and its name, for the error messages.
#define ATTR(a) a, #a

// A cuDNN backend descriptor, destroyed with its owner.
class Desc {
 public:
  Desc(cudnnBackendDescriptorType_t type, std::string name) : name_(std::move(name)) {
    cudnn_check(cudnnBackendCreateDescriptor(type, &d_), "cudnnBackendCreateDescriptor(" + name_ + ")");
  }
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }

  Desc& set(cudnnBackendAttributeName_t attr, const char* attr_name, cudnnBackendAttributeType_t type, int64_t count,
            const void* values) {
    cudnn_check(cudnnBackendSetAttribute(d_, attr, type, count, values),
                "cudnnBackendSetAttribute(" + name_ + ", " + attr_name + ")");
    return *this;
  }
  Desc& set_i64(cudnnBackendAttributeName_t attr, const char* n, int64_t v) { return set(attr, n, CUDNN_TYPE_INT64, 1, &v); }
  Desc& set_i64s(cudnnBackendAttributeName_t attr, const char* n, const std::vector<int64_t>& v) {
    return set(attr, n, CUDNN_TYPE_INT64, static_cast<int64_t>(v.size()), v.data());
  }
  Desc& set_type(cudnnBackendAttributeName_t attr, const char* n, cudnnDataType_t t) {
    return set(attr, n, CUDNN_TYPE_DATA_TYPE, 1, &t);
  }
  Desc& set_desc(cudnnBackendAttributeName_t attr, const char* n, const Desc& d) {
    cudnnBackendDescriptor_t raw = d.get();
    return set(attr, n, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  Desc& finalize() {
    cudnn_check(cudnnBackendFinalize(d_), "cudnnBackendFinalize(" + name_ + ")");
    return *this;
  }
  // count elements of attribute attr (type) into values; returns how many.
  int64_t get_attr(cudnnBackendAttributeName_t attr, const char* attr_name, cudnnBackendAttributeType_t type,
                   int64_t count, void* values) const {
    int64_t got = 0;
    cudnn_check(cudnnBackendGetAttribute(d_, attr, type, count, &got, values),
                "cudnnBackendGetAttribute(" + name_ + ", " + attr_name + ")");
    return got;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
  std::string name_;
};

// Tensor unique ids; virtual tensors count up from kUidVirtual.
enum : int64_t {
  kUidX = 1, kUidW, kUidScale, kUidBias, kUidTemb, kUidY, kUidSum, kUidSqsum, kUidDy, kUidDw, kUidDz,
  kUidVirtual = 100
};

// What graphs and plans are made for: a GPU through its cuDNN handle, or,
// without one, a device described by cuDNN's device-properties JSON (cuDNN
// 9.8+: heuristics and plan finalization, runtime compilation included, need
// no GPU then).
struct Target {
  cudnnHandle_t handle = nullptr;
  const Desc* device = nullptr;  // a finalized CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR
};


// An operation graph and every descriptor it refers to (they must outlive it),
// and the unique ids of its non-virtual tensors, for the variant pack.
struct OpGraph {
  std::vector<std::unique_ptr<Desc>> keep;
  std::vector<cudnnBackendDescriptor_t> ops;
  std::vector<int64_t> io_uids;
  std::unique_ptr<Desc> graph;
  int64_t next_virtual = kUidVirtual;

  Desc& add(cudnnBackendDescriptorType_t type, const std::string& name) {
    keep.push_back(std::make_unique<Desc>(type, name));
    return *keep.back();
  }
  // A tensor of dims [d0, d1, d2, d3] = [N, C, H, W]-like, strides as given;
  // 16-byte alignment (cudaMalloc gives 256).
  const Desc& tensor(const std::string& name, int64_t uid, cudnnDataType_t type, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& strides, bool is_virtual) {
    Desc& t = add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor " + name);
    t.set_type(ATTR(CUDNN_ATTR_TENSOR_DATA_TYPE), type)
        .set_i64s(ATTR(CUDNN_ATTR_TENSOR_DIMENSIONS), dims)
        .set_i64s(ATTR(CUDNN_ATTR_TENSOR_STRIDES), strides)
        .set_i64(ATTR(CUDNN_ATTR_TENSOR_UNIQUE_ID), uid)
        .set_i64(ATTR(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT), 16);
    if (is_virtual) {
      bool v = true;
      t.set(ATTR(CUDNN_ATTR_TENSOR_IS_VIRTUAL), CUDNN_TYPE_BOOLEAN, 1, &v);
    } else {
      io_uids.push_back(uid);
    }
    return t.finalize();
  }
  // An [N, C, H, W] activation in channels-last memory.
  const Desc& activation(const std::string& name, int64_t uid, cudnnDataType_t type, int64_t N, int64_t C, int64_t H,
                         int64_t W, bool is_virtual) {
    return tensor(name, uid, type, {N, C, H, W}, {H * W * C, 1, W * C, C}, is_virtual);
  }
  const Desc& virtual_activation(const std::string& name, cudnnDataType_t type, const Problem& p, int64_t C) {
    return activation(name, next_virtual++, type, p.N, C, p.H, p.W, true);
  }
  // A per-channel [1, C, 1, 1] (or per-(image, channel) [N, C, 1, 1]) vector.
  const Desc& channel_vector(const std::string& name, int64_t uid, cudnnDataType_t type, int64_t N, int64_t C) {
    return tensor(name, uid, type, {N, C, 1, 1}, {C, 1, C, C}, false);
  }
  const Desc& filter(const std::string& name, int64_t uid, cudnnDataType_t type, const Problem& p) {
    return tensor(name, uid, type, {p.K, p.C, 3, 3}, {9LL * p.C, 1, 3LL * p.C, p.C}, false);
  }

  // A pointwise operation of the mode in fp32 math, its tensors given as
  // (attribute, descriptor) pairs: X, B, Y for the forward modes; DY, X, DX
  // for an activation's backward.
  void pointwise(const std::string& name, cudnnPointwiseMode_t mode,
                 const std::vector<std::pair<cudnnBackendAttributeName_t, const Desc*>>& tensors) {
    Desc& pw = add(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, name + " (pointwise mode)");
    pw.set(ATTR(CUDNN_ATTR_POINTWISE_MODE), CUDNN_TYPE_POINTWISE_MODE, 1, &mode)
        .set_type(ATTR(CUDNN_ATTR_POINTWISE_MATH_PREC), CUDNN_DATA_FLOAT)
        .finalize();
    Desc& op = add(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, name);
    op.set_desc(ATTR(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR), pw);
    for (const auto& [attr, t] : tensors) op.set_desc(attr, "pointwise tensor", *t);
    ops.push_back(op.finalize().get());
  }
  // 3x3, pad 1, stride 1, cross-correlation, fp32 accumulation.
  const Desc& conv3x3() {
    Desc& c = add(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "convolution 3x3");
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    c.set_type(ATTR(CUDNN_ATTR_CONVOLUTION_COMP_TYPE), CUDNN_DATA_FLOAT)
        .set(ATTR(CUDNN_ATTR_CONVOLUTION_CONV_MODE), CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)
        .set_i64(ATTR(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS), 2)
        .set_i64s(ATTR(CUDNN_ATTR_CONVOLUTION_DILATIONS), {1, 1})
        .set_i64s(ATTR(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES), {1, 1})
        .set_i64s(ATTR(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS), {1, 1})
        .set_i64s(ATTR(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS), {1, 1});
    return c.finalize();
  }
  // One of the three convolution operations: its alpha/beta and its three
  // tensors (attribute ids differ per direction).
  void convolution(const std::string& name, cudnnBackendDescriptorType_t type,
                   const std::array<cudnnBackendAttributeName_t, 6>& attrs, const Desc& t0, const Desc& t1,
                   const Desc& t2) {
    const Desc& conv = conv3x3();
    Desc& op = add(type, name);
    float alpha = 1.0f, beta = 0.0f;
    op.set(attrs[0], "ALPHA", CUDNN_TYPE_FLOAT, 1, &alpha)
        .set(attrs[1], "BETA", CUDNN_TYPE_FLOAT, 1, &beta)
        .set_desc(attrs[2], "CONV_DESC", conv)
        .set_desc(attrs[3], "tensor 1", t0)
        .set_desc(attrs[4], "tensor 2", t1)
        .set_desc(attrs[5], "tensor 3", t2);
    ops.push_back(op.finalize().get());
  }
  void genstats(const Desc& x, const Desc& sum, const Desc& sqsum) {
    Desc& op = add(CUDNN_BACKEND_OPERATION_GEN_STATS_DESCRIPTOR, "genstats");
    cudnnGenStatsMode_t mode = CUDNN_GENSTATS_SUM_SQSUM;
    op.set(ATTR(CUDNN_ATTR_OPERATION_GENSTATS_MODE), CUDNN_TYPE_GENSTATS_MODE, 1, &mode)
        .set_type(ATTR(CUDNN_ATTR_OPERATION_GENSTATS_MATH_PREC), CUDNN_DATA_FLOAT)
        .set_desc(ATTR(CUDNN_ATTR_OPERATION_GENSTATS_XDESC), x)
        .set_desc(ATTR(CUDNN_ATTR_OPERATION_GENSTATS_SUMDESC), sum)
        .set_desc(ATTR(CUDNN_ATTR_OPERATION_GENSTATS_SQSUMDESC), sqsum);
    ops.push_back(op.finalize().get());
  }
  void finalize(const Target& target) {
    graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
    graph->set(ATTR(CUDNN_ATTR_OPERATIONGRAPH_OPS), CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()),
               ops.data());
    cudnnHandle_t handle = target.handle;
    if (handle) graph->set(ATTR(CUDNN_ATTR_OPERATIONGRAPH_HANDLE), CUDNN_TYPE_HANDLE, 1, &handle);
    graph->finalize();
  }
};

// The attributes of the three convolution operations, in the order
// OpGraph::convolution sets them: alpha, beta, descriptor, then the tensors.
using ConvAttrs = std::array<cudnnBackendAttributeName_t, 6>;
const ConvAttrs kForwardConv = {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y};
const ConvAttrs kWgradConv = {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
                              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
                              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW};
const ConvAttrs kDgradConv = {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
                              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
                              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX};

// x -> [*scale, +bias] [+temb] [ReLU] as pointwise nodes into fp32 (or the
// attempt's) virtual tensors; returns the last tensor (x when empty).
const Desc& add_prologue(OpGraph& g, const Problem& p, const Prologue& pro, const Types& t, const Desc& x) {
  const Desc* cur = &x;
  auto step = [&](const char* name, cudnnPointwiseMode_t mode, const Desc* b) {
    const Desc& out = g.virtual_activation(std::string(name) + " output", t.intermediate, p, p.C);
    std::vector<std::pair<cudnnBackendAttributeName_t, const Desc*>> io = {
        {CUDNN_ATTR_OPERATION_POINTWISE_XDESC, cur}, {CUDNN_ATTR_OPERATION_POINTWISE_YDESC, &out}};
    if (b) io.push_back({CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b});
    g.pointwise(name, mode, io);
    cur = &out;
  };
  if (pro.scale_bias) {
    const Desc& scale = g.channel_vector("scale", kUidScale, t.params, 1, p.C);
    const Desc& bias = g.channel_vector("bias", kUidBias, t.params, 1, p.C);
    step("prologue mul scale", CUDNN_POINTWISE_MUL, &scale);
    step("prologue add bias", CUDNN_POINTWISE_ADD, &bias);
  }
  if (pro.temb) {
    const Desc& temb = g.channel_vector("temb", kUidTemb, t.params, p.N, p.C);
    step("prologue add temb", CUDNN_POINTWISE_ADD, &temb);
  }
  if (pro.relu) step("prologue relu", CUDNN_POINTWISE_RELU_FWD, nullptr);
  return *cur;
}

// The operation graph of one variant (throws CudnnError when cuDNN refuses
// a piece of it).
std::unique_ptr<OpGraph> build_graph(const Target& target, const Variant& v, const Problem& p, const Types& t) {
  auto g = std::make_unique<OpGraph>();
  const Desc& x = g->activation("x", kUidX, t.io, p.N, p.C, p.H, p.W, false);
  if (v.kind == Kind::kForward) {
    const Desc& w = g->filter("w", kUidW, t.io, p);
    const Desc& a = add_prologue(*g, p, v.prologue, t, x);
    const Desc& y = g->activation("y", kUidY, t.io, p.N, p.K, p.H, p.W, false);
    g->convolution("convolution forward", CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                   kForwardConv,
                   a, w, y);
    if (v.genstats) {
      const Desc& sum = g->channel_vector("sum", kUidSum, CUDNN_DATA_FLOAT, 1, p.K);
      const Desc& sqsum = g->channel_vector("sqsum", kUidSqsum, CUDNN_DATA_FLOAT, 1, p.K);
      g->genstats(y, sum, sqsum);
    }
  } else if (v.kind == Kind::kWgrad) {
    const Desc& a = add_prologue(*g, p, v.prologue, t, x);
    const Desc& dy = g->activation("dy", kUidDy, t.io, p.N, p.K, p.H, p.W, false);
    const Desc& dw = g->filter("dw", kUidDw, t.io, p);
    g->convolution("convolution backward filter", CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
                   kWgradConv,
                   a, dy, dw);
  } else {
    const Desc& w = g->filter("w", kUidW, t.io, p);
    const Desc& dy = g->activation("dy", kUidDy, t.io, p.N, p.K, p.H, p.W, false);
    const Desc& da = g->virtual_activation("dA", t.intermediate, p, p.C);
    g->convolution("convolution backward data", CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                   kDgradConv,
                   dy, w, da);
    const Desc& z = add_prologue(*g, p, v.prologue, t, x);
    const Desc& dz = g->activation("dz", kUidDz, t.io, p.N, p.C, p.H, p.W, false);
    g->pointwise("drelu", CUDNN_POINTWISE_RELU_BWD,  // dz = dA * (z > 0)
                 {{CUDNN_ATTR_OPERATION_POINTWISE_DYDESC, &da}, {CUDNN_ATTR_OPERATION_POINTWISE_XDESC, &z},
                  {CUDNN_ATTR_OPERATION_POINTWISE_DXDESC, &dz}});
  }
  g->finalize(target);
  return g;
}

// A finalized execution plan and what was learnt finding it.
struct Plan {
  std::unique_ptr<Desc> plan;
  int64_t engine = -1, workspace = 0;
  std::string notes, heuristic;
  int cfg_index = 0, cfg_count = 0;
};

// Behaviour and numerical notes of an engine config's engine, as words;
// informational, so a failure to read them is not one of the probe's.
void describe_engine(const Desc& cfg, Plan& plan) {
  try {
    Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine");
    cudnnBackendDescriptor_t raw = engine.get();
    cfg.get_attr(ATTR(CUDNN_ATTR_ENGINECFG_ENGINE), CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
    engine.get_attr(ATTR(CUDNN_ATTR_ENGINE_GLOBAL_INDEX), CUDNN_TYPE_INT64, 1, &plan.engine);
    std::vector<std::string> words;
    cudnnBackendBehaviorNote_t behaviour[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    const int64_t nb = engine.get_attr(ATTR(CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE), CUDNN_TYPE_BEHAVIOR_NOTE,
                                       CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, behaviour);
    for (int64_t i = 0; i < nb; ++i) {
      if (behaviour[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) words.push_back("runtime-compiled");
      if (behaviour[i] == CUDNN_BEHAVIOR_NOTE_SUPPORTS_CUDA_GRAPH_NATIVE_API) words.push_back("cuda-graph-native");
    }
    cudnnBackendNumericalNote_t numerical[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    const int64_t nn = engine.get_attr(ATTR(CUDNN_ATTR_ENGINE_NUMERICAL_NOTE), CUDNN_TYPE_NUMERICAL_NOTE,
                                       CUDNN_NUMERICAL_NOTE_TYPE_COUNT, numerical);
    static const std::map<int, const char*> kNumerical = {
        {CUDNN_NUMERICAL_NOTE_TENSOR_CORE, "tensor-core"},
        {CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS, "down-converts-inputs"},
        {CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION, "reduced-precision-reduction"},
        {CUDNN_NUMERICAL_NOTE_FFT, "fft"},
        {CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC, "nondeterministic"},
        {CUDNN_NUMERICAL_NOTE_WINOGRAD, "winograd"}};
    for (int64_t i = 0; i < nn; ++i) {
      auto it = kNumerical.find(numerical[i]);
      if (it != kNumerical.end()) words.push_back(it->second);
    }
    for (const std::string& w : words) plan.notes += (plan.notes.empty() ? "" : ",") + w;
  } catch (const CudnnError& e) {
    plan.notes = "notes unreadable: " + std::string(cudnnGetErrorString(e.status));
  }
}

// Heuristics mode A, then FALLBACK: the first engine config that finalizes
// as an execution plan. When none does, throws a CudnnError with the first
// failure's status (the heuristics' top choice) and, as its message, every
// distinct failure: which engine refused and why is the finding.
Plan find_plan(const Target& target, const OpGraph& g) {
  cudnnStatus_t first_status = CUDNN_STATUS_SUCCESS;
  std::string first_call;
  std::vector<std::string> failures;
  auto failed = [&](const std::string& where, const CudnnError& e) {
    if (first_status == CUDNN_STATUS_SUCCESS) {
      first_status = e.status;
      first_call = e.call;
    }
    const std::string f = where + ": " + cudnnGetErrorString(e.status) + (e.message.empty() ? "" : " " + e.message);
    if (std::find(failures.begin(), failures.end(), f) == failures.end()) failures.push_back(f);
  };
  const std::pair<cudnnBackendHeurMode_t, const char*> modes[] = {{CUDNN_HEUR_MODE_A, "A"},
                                                                   {CUDNN_HEUR_MODE_FALLBACK, "fallback"}};
  for (const auto& [mode, mode_name] : modes) {
    const std::string heur_name = std::string("heuristics ") + mode_name;
    try {
      Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, heur_name);
      heur.set_desc(ATTR(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH), *g.graph)
          .set(ATTR(CUDNN_ATTR_ENGINEHEUR_MODE), CUDNN_TYPE_HEUR_MODE, 1, &mode);
      if (target.device) heur.set_desc(ATTR(CUDNN_ATTR_ENGINEHEUR_DEVICEPROP), *target.device);
      heur.finalize();
      const int64_t count = heur.get_attr(ATTR(CUDNN_ATTR_ENGINEHEUR_RESULTS), CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, nullptr);
      if (count <= 0) {
        failed(heur_name, CudnnError(heur_name, CUDNN_STATUS_NOT_SUPPORTED, "returned no engine config"));
        continue;
      }
      std::vector<std::unique_ptr<Desc>> cfgs;
      std::vector<cudnnBackendDescriptor_t> raw;
      for (int64_t i = 0; i < count; ++i) {
        cfgs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config " + std::to_string(i)));
        raw.push_back(cfgs.back()->get());
      }
      // cuDNN checks the configs as it returns them and leaves out those it
      // cannot finalize.
      const int64_t got = heur.get_attr(ATTR(CUDNN_ATTR_ENGINEHEUR_RESULTS), CUDNN_TYPE_BACKEND_DESCRIPTOR, count, raw.data());
      if (got <= 0)
        failed(heur_name, CudnnError(heur_name, CUDNN_STATUS_NOT_SUPPORTED,
                                     strf("none of its %lld engine configs is viable", static_cast<long long>(count))));
      for (int64_t i = 0; i < got; ++i) {
        Plan p;
        describe_engine(*cfgs[i], p);
        try {
          p.plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR,
                                          strf("execution plan (%s, config %lld of %lld)", heur_name.c_str(),
                                               static_cast<long long>(i + 1), static_cast<long long>(got)));
          p.plan->set_desc(ATTR(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG), *cfgs[i]);
          cudnnHandle_t handle = target.handle;
          if (handle) p.plan->set(ATTR(CUDNN_ATTR_EXECUTION_PLAN_HANDLE), CUDNN_TYPE_HANDLE, 1, &handle);
          else p.plan->set_desc(ATTR(CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP), *target.device);
          p.plan->finalize();
          p.plan->get_attr(ATTR(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE), CUDNN_TYPE_INT64, 1, &p.workspace);
          p.heuristic = mode_name;
          p.cfg_index = static_cast<int>(i + 1);
          p.cfg_count = static_cast<int>(got);
          return p;
        } catch (const CudnnError& e) {
          failed(strf("%s engine %lld", heur_name.c_str(), static_cast<long long>(p.engine)) +
                     (p.notes.empty() ? "" : " [" + p.notes + "]"),
                 e);
        }
      }
    } catch (const CudnnError& e) {
      failed(heur_name, e);
    }
  }
  std::string all;
  for (const std::string& f : failures) all += (all.empty() ? "" : " | ") + f;
  throw CudnnError(first_call.empty() ? "engine heuristics" : first_call, first_status, all);
}

// A plan bound to device pointers (by tensor uid) and a workspace.
class Executable {
 public:
  Executable(cudnnHandle_t handle, const Plan& plan, const OpGraph& g, const std::map<int64_t, void*>& pointers,
             void* workspace)
      : handle_(handle), plan_(plan), pack_(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack") {
    std::vector<void*> ptrs;
    for (int64_t uid : g.io_uids) {
      auto it = pointers.find(uid);
      if (it == pointers.end()) throw std::runtime_error(strf("variant pack: no device pointer for tensor uid %lld", static_cast<long long>(uid)));
      ptrs.push_back(it->second);
    }
    pack_.set(ATTR(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS), CUDNN_TYPE_INT64, static_cast<int64_t>(g.io_uids.size()),
              g.io_uids.data())
        .set(ATTR(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS), CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(ptrs.size()),
             ptrs.data())
        .set(ATTR(CUDNN_ATTR_VARIANT_PACK_WORKSPACE), CUDNN_TYPE_VOID_PTR, 1, &workspace)
        .finalize();
  }
  void run() const { cudnn_check(cudnnBackendExecute(handle_, plan_.plan->get(), pack_.get()), "cudnnBackendExecute"); }

 private:
  cudnnHandle_t handle_;
  const Plan& plan_;
  Desc pack_;
};

// ---- device memory and kernels -------------------------------------------------------
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t bytes, const std::string& what) : bytes_(bytes) {
    if (bytes) cuda_check(cudaMalloc(&p_, bytes), "cudaMalloc(" + what + strf(", %zu bytes)", bytes));
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(o.bytes_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  void* get() const { return p_; }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

template <typename T>
DeviceBuffer upload(const std::vector<T>& v, const std::string& what) {
  DeviceBuffer b(v.size() * sizeof(T), what);
  if (b.bytes())
    cuda_check(cudaMemcpy(b.get(), v.data(), b.bytes(), cudaMemcpyHostToDevice), "cudaMemcpy(" + what + ", to the GPU)");
  return b;
}
template <typename T>
std::vector<T> download(const DeviceBuffer& b, size_t count, const std::string& what) {
  std::vector<T> v(count);
  cuda_check(cudaMemcpy(v.data(), b.get(), count * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy(" + what + ", to the host)");
  return v;
}

// out = prologue(x) (or, with relu off, the pre-activation), elementwise over
// channels-last x, rounded to bf16: the unfused path's BatchNorm-apply
// kernel. VEC channels per thread (8 when C allows 16-byte accesses).
template <int VEC>
__global__ void prologue_kernel(const __nv_bfloat16* __restrict__ x, const float* __restrict__ scale,
                                const float* __restrict__ bias, const float* __restrict__ temb,
                                __nv_bfloat16* __restrict__ out, int64_t groups, int C, int64_t HWC, Prologue pro) {
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i0 = g * VEC;
    const int c0 = static_cast<int>(i0 % C);
    const int64_t n = i0 / HWC;
    alignas(16) __nv_bfloat16 v[VEC];
    if constexpr (VEC == 8) *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(x + i0);
    else v[0] = x[i0];
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      float a = __bfloat162float(v[j]);
      if (pro.scale_bias) a = a * scale[c0 + j] + bias[c0 + j];
      if (pro.temb) a += temb[n * C + c0 + j];
      if (pro.relu) a = fmaxf(a, 0.0f);
      v[j] = __float2bfloat16_rn(a);
    }
    if constexpr (VEC == 8) *reinterpret_cast<uint4*>(out + i0) = *reinterpret_cast<const uint4*>(v);
    else out[i0] = v[0];
  }
}

// dz = dA where the recomputed z = x*scale + bias (+temb) is positive, else 0.
__global__ void drelu_kernel(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ da,
                             const float* __restrict__ scale, const float* __restrict__ bias,
                             const float* __restrict__ temb, __nv_bfloat16* __restrict__ dz, int64_t total, int C,
                             int64_t HWC, Prologue pro) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(i % C);
    float z = __bfloat162float(x[i]);
    if (pro.scale_bias) z = z * scale[c] + bias[c];
    if (pro.temb) z += temb[i / HWC * C + c];
    dz[i] = z > 0.0f ? da[i] : __float2bfloat16_rn(0.0f);
  }
}

// Per-channel sum and sum of squares of channels-last y [rows][K], added
// into sum/sqsum (zeroed by the caller): each block sums a slice of rows in
// registers, then shared memory, then one atomicAdd per channel.
__global__ void channel_stats_kernel(const __nv_bfloat16* __restrict__ y, int64_t rows, int K, int64_t rows_per_block,
                                     float* __restrict__ sum, float* __restrict__ sqsum) {
  __shared__ float s_sum[256], s_sq[256];
  const int lanes = min(K, 256);          // channels per pass
  const int row_lanes = blockDim.x / lanes;  // rows in flight per pass
  const int t = threadIdx.x, lane = t % lanes, row_lane = t / lanes;
  const int64_t r0 = blockIdx.x * rows_per_block, r1 = min(rows, r0 + rows_per_block);
  for (int base = 0; base < K; base += lanes) {
    const int c = base + lane;
    float s = 0.0f, q = 0.0f;
    if (row_lane < row_lanes && c < K)
      for (int64_t r = r0 + row_lane; r < r1; r += row_lanes) {
        const float v = __bfloat162float(y[r * K + c]);
        s += v;
        q += v * v;
      }
    s_sum[t] = s;
    s_sq[t] = q;
    __syncthreads();
    if (row_lane == 0 && c < K) {
      for (int j = 1; j < row_lanes; ++j) {
        s += s_sum[j * lanes + lane];
        q += s_sq[j * lanes + lane];
      }
      atomicAdd(&sum[c], s);
      atomicAdd(&sqsum[c], q);
    }
    __syncthreads();
  }
}

int grid_for(int64_t work, int sm_count) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((work + 255) / 256, sm_count * 16)));
}

// ---- the GPU context and the unfused path ------------------------------------------
struct Gpu {
  int device = 0, sm_count = 1;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  cudaStream_t stream = nullptr;
  cudnnHandle_t handle = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Gpu() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (handle) cudnnDestroy(handle);
    if (stream) cudaStreamDestroy(stream);
  }
};

// Median of 20 timed runs (cudaEvent, on the probe's stream) after 5 warm-ups.
double median_ms(const Gpu& gpu, const std::function<void()>& run) {
  for (int i = 0; i < 5; ++i) run();
  CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
  std::vector<float> ms(20);
  for (float& m : ms) {
    CUDA_CHECK(cudaEventRecord(gpu.start, gpu.stream));
    run();
    CUDA_CHECK(cudaEventRecord(gpu.stop, gpu.stream));
    CUDA_CHECK(cudaEventSynchronize(gpu.stop));
    CUDA_CHECK(cudaEventElapsedTime(&m, gpu.start, gpu.stop));
  }
  std::sort(ms.begin(), ms.end());
  return 0.5 * (ms[9] + ms[10]);
}

// The legacy-API convolution of one problem (NHWC bf16, fp32 accumulation),
// each direction with the algorithm cudnnFind* ranks first.
class LegacyConv {
 public:
  LegacyConv(const Gpu& gpu, const Problem& p) : gpu_(gpu) {
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NHWC, CUDNN_DATA_BFLOAT16, p.N, p.C, p.H, p.W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NHWC, CUDNN_DATA_BFLOAT16, p.N, p.K, p.H, p.W));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NHWC, p.K, p.C, 3, 3));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, CUDNN_TENSOR_OP_MATH));
  }
  ~LegacyConv() {
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (x_) cudnnDestroyTensorDescriptor(x_);
  }
  LegacyConv(const LegacyConv&) = delete;
  LegacyConv& operator=(const LegacyConv&) = delete;

  void prepare(Kind kind) {
    kind_ = kind;
    int n = 0;
    size_t ws = 0;
    if (kind == Kind::kForward) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(gpu_.handle, x_, w_, conv_, y_, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      const auto algo = adopt(perf, n, "forward");
      CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(gpu_.handle, x_, w_, conv_, y_, algo, &ws));
    } else if (kind == Kind::kWgrad) {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(gpu_.handle, x_, y_, conv_, w_,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
      const auto algo = adopt(perf, n, "backward filter");
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(gpu_.handle, x_, y_, conv_, w_, algo, &ws));
    } else {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(gpu_.handle, w_, y_, conv_, x_,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      const auto algo = adopt(perf, n, "backward data");
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(gpu_.handle, w_, y_, conv_, x_, algo, &ws));
    }
    ws_ = DeviceBuffer(ws, "legacy convolution workspace");
  }
  // forward: (x, w) -> y; wgrad: (x, dy) -> dw; dgrad: (w, dy) -> dx.
  void run(const void* in0, const void* in1, void* out) const {
    const float one = 1.0f, zero = 0.0f;
    if (kind_ == Kind::kForward)
      CUDNN_CHECK(cudnnConvolutionForward(gpu_.handle, &one, x_, in0, w_, in1, conv_,
                                          static_cast<cudnnConvolutionFwdAlgo_t>(algo_), ws_.get(), ws_.bytes(), &zero, y_, out));
    else if (kind_ == Kind::kWgrad)
      CUDNN_CHECK(cudnnConvolutionBackwardFilter(gpu_.handle, &one, x_, in0, y_, in1, conv_,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo_), ws_.get(), ws_.bytes(),
                                                 &zero, w_, out));
    else
      CUDNN_CHECK(cudnnConvolutionBackwardData(gpu_.handle, &one, w_, in0, y_, in1, conv_,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(algo_), ws_.get(), ws_.bytes(),
                                               &zero, x_, out));
  }

 private:
  // The first algorithm cudnnFind* ranks that ran, with its math type.
  template <typename Perf>
  auto adopt(const Perf* perf, int n, const char* dir) -> decltype(perf->algo) {
    for (int i = 0; i < n; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS) {
        algo_ = perf[i].algo;
        CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, perf[i].mathType));
        return perf[i].algo;
      }
    throw std::runtime_error(std::string("cudnnFind: no usable ") + dir + " algorithm for the unfused path");
  }
  const Gpu& gpu_;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  Kind kind_ = Kind::kForward;
  int algo_ = 0;
  DeviceBuffer ws_;
};

// The inputs of one problem on the GPU as the unfused path reads them:
// bf16 activations and filters, fp32 parameters.
struct DeviceInputs {
  DeviceBuffer x, w, dy, scale32, bias32, temb32;
  explicit DeviceInputs(const HostInputs& in)
      : x(upload(in.x, "x")),
        w(upload(in.w, "w")),
        dy(upload(in.dy, "dy")),
        scale32(upload(in.scale, "scale")),
        bias32(upload(in.bias, "bias")),
        temb32(upload(in.temb, "temb")) {}
};

// The same inputs in one attempt's types, for the fused plan: the bf16
// buffers themselves when they fit, else converted copies.
struct FusedInputs {
  DeviceBuffer x16, w16, dy16, scale, bias, temb;  // copies, when needed
  void *x, *w, *dy;
  FusedInputs(const HostInputs& in, const DeviceInputs& d, const Types& t) {
    const bool half = t.io == CUDNN_DATA_HALF;
    auto reencode = [&](const std::vector<uint16_t>& bf16, const char* what) {
      return upload(encode16(decode16(bf16, CUDNN_DATA_BFLOAT16), CUDNN_DATA_HALF), what);
    };
    if (half) {
      x16 = reencode(in.x, "x (fp16)");
      w16 = reencode(in.w, "w (fp16)");
      dy16 = reencode(in.dy, "dy (fp16)");
    }
    x = half ? x16.get() : d.x.get();
    w = half ? w16.get() : d.w.get();
    dy = half ? dy16.get() : d.dy.get();
    auto param = [&](const std::vector<float>& v, const char* what) {
      return t.params == CUDNN_DATA_FLOAT ? upload(v, what) : upload(encode16(v, t.params), what);
    };
    scale = param(in.scale, "scale");
    bias = param(in.bias, "bias");
    temb = param(in.temb, "temb");
  }
};

void launch_prologue(const Gpu& gpu, const Problem& p, const Prologue& pro, const DeviceInputs& d, void* out) {
  const int64_t total = p.pixels() * p.C, HWC = static_cast<int64_t>(p.H) * p.W * p.C;
  if (p.C % 8 == 0)
    prologue_kernel<8><<<grid_for(total / 8, gpu.sm_count), 256, 0, gpu.stream>>>(
        d.x.as<__nv_bfloat16>(), d.scale32.as<float>(), d.bias32.as<float>(), d.temb32.as<float>(),
        static_cast<__nv_bfloat16*>(out), total / 8, p.C, HWC, pro);
  else
    prologue_kernel<1><<<grid_for(total, gpu.sm_count), 256, 0, gpu.stream>>>(
        d.x.as<__nv_bfloat16>(), d.scale32.as<float>(), d.bias32.as<float>(), d.temb32.as<float>(),
        static_cast<__nv_bfloat16*>(out), total, p.C, HWC, pro);
  CUDA_CHECK(cudaGetLastError());
}

void launch_stats(const Gpu& gpu, const Problem& p, const void* y, float* sum, float* sqsum) {
  const int64_t rows = p.pixels();
  const int blocks = static_cast<int>(std::min<int64_t>(std::max<int64_t>(1, rows / 64), gpu.sm_count * 8));
  const int64_t per_block = (rows + blocks - 1) / blocks;
  CUDA_CHECK(cudaMemsetAsync(sum, 0, p.K * sizeof(float), gpu.stream));
  CUDA_CHECK(cudaMemsetAsync(sqsum, 0, p.K * sizeof(float), gpu.stream));
  channel_stats_kernel<<<blocks, 256, 0, gpu.stream>>>(static_cast<const __nv_bfloat16*>(y), rows, p.K, per_block, sum, sqsum);
  CUDA_CHECK(cudaGetLastError());
}

// ---- one (shape, variant) ---------------------------------------------------------------
// Runs one supported variant: checks and times the fused plan and the
// unfused path. Any exception here is an ERROR of the (shape, variant).
void run_supported(const Gpu& gpu, const Problem& p, const Variant& v, const Types& types, const OpGraph& g,
                   const Plan& plan, const HostInputs& in, const DeviceInputs& d, const Reference& ref, Result& r) {
  const bool fwd = v.kind == Kind::kForward;
  const size_t out_count = fwd ? p.pixels() * p.K : v.kind == Kind::kWgrad ? 9ull * p.K * p.C : p.pixels() * p.C;
  DeviceBuffer out(out_count * 2, "fused output"), base_out(out_count * 2, "unfused output");
  DeviceBuffer sums(2 * p.K * sizeof(float), "fused sum/sqsum"), base_sums(2 * p.K * sizeof(float), "unfused sum/sqsum");
  DeviceBuffer ws(plan.workspace, "fused workspace");
  DeviceBuffer scratch(p.pixels() * p.C * 2, "unfused intermediate");  // the prologue's output or dA
  float* sum = sums.as<float>();
  float* sqsum = sum + p.K;
  const FusedInputs f(in, d, types);
  const std::map<int64_t, void*> pointers = {
      {kUidX, f.x}, {kUidW, f.w}, {kUidDy, f.dy}, {kUidScale, f.scale.get()}, {kUidBias, f.bias.get()},
      {kUidTemb, f.temb.get()}, {kUidY, out.get()}, {kUidDw, out.get()}, {kUidDz, out.get()},
      {kUidSum, sum}, {kUidSqsum, sqsum}};
  Executable fused(gpu.handle, plan, g, pointers, ws.get());

  // One checked run into NaN-filled outputs, so unwritten values show. If
  // the sums come back NaN, genstats accumulates into its outputs: rerun
  // into zeros (and time it with the zeroing).
  CUDA_CHECK(cudaMemsetAsync(out.get(), 0xff, out.bytes(), gpu.stream));
  CUDA_CHECK(cudaMemsetAsync(sums.get(), 0xff, sums.bytes(), gpu.stream));
  fused.run();
  CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
  bool accumulates = false;
  if (v.genstats) {
    std::vector<float> s = download<float>(sums, 2 * p.K, "fused sums");
    if (std::any_of(s.begin(), s.end(), [](float f) { return !std::isfinite(f); })) {
      accumulates = true;
      CUDA_CHECK(cudaMemsetAsync(sums.get(), 0, sums.bytes(), gpu.stream));
      fused.run();
      CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
    }
    r.sums_semantics = accumulates ? "accumulates: needs zeroed sums" : "overwrites";
  }
  const std::vector<float> got = decode16(download<uint16_t>(out, out_count, "fused output"), types.io);
  r.out = check_output(got, p, v, ref, false, &r);
  if (v.genstats) {
    const std::vector<float> s = download<float>(sums, 2 * p.K, "fused sums");
    r.sums = check_sums(got, p.pixels(), p.K, std::vector<float>(s.begin(), s.begin() + p.K),
                        std::vector<float>(s.begin() + p.K, s.end()));
  }

  // The unfused path.
  LegacyConv conv(gpu, p);
  conv.prepare(v.kind);
  float* base_sum = base_sums.as<float>();
  auto unfused = [&] {
    if (v.kind == Kind::kForward) {
      launch_prologue(gpu, p, v.prologue, d, scratch.get());
      conv.run(scratch.get(), d.w.get(), base_out.get());
      if (v.genstats) launch_stats(gpu, p, base_out.get(), base_sum, base_sum + p.K);
    } else if (v.kind == Kind::kWgrad) {
      launch_prologue(gpu, p, v.prologue, d, scratch.get());
      conv.run(scratch.get(), d.dy.get(), base_out.get());
    } else {
      conv.run(d.w.get(), d.dy.get(), scratch.get());
      const int64_t total = p.pixels() * p.C;
      drelu_kernel<<<grid_for(total, gpu.sm_count), 256, 0, gpu.stream>>>(
          d.x.as<__nv_bfloat16>(), scratch.as<__nv_bfloat16>(), d.scale32.as<float>(), d.bias32.as<float>(),
          d.temb32.as<float>(), base_out.as<__nv_bfloat16>(), total, p.C, static_cast<int64_t>(p.H) * p.W * p.C,
          v.prologue);
      CUDA_CHECK(cudaGetLastError());
    }
  };
  unfused();
  CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
  const std::vector<float> base = decode16(download<uint16_t>(base_out, out_count, "unfused output"), CUDNN_DATA_BFLOAT16);
  r.base_out = check_output(base, p, v, ref, true, &r);
  if (v.genstats) {
    const std::vector<float> s = download<float>(base_sums, 2 * p.K, "unfused sums");
    r.base_sums = check_sums(base, p.pixels(), p.K, std::vector<float>(s.begin(), s.begin() + p.K),
                             std::vector<float>(s.begin() + p.K, s.end()));
  }

  r.fused_ms = median_ms(gpu, [&] {
    if (accumulates) CUDA_CHECK(cudaMemsetAsync(sums.get(), 0, sums.bytes(), gpu.stream));
    fused.run();
  });
  r.unfused_ms = median_ms(gpu, unfused);
}

// The graph and plan of one (shape, variant) for the target: fp32
// parameters and intermediates first, then bf16 ones. Records in r whether
// and how it is supported; returns the attempt that planned, or nullptr.
const Types* plan_variant(const Target& target, const Variant& v, const Problem& p, Result& r,
                          std::unique_ptr<OpGraph>& graph, Plan& plan) {
  const Types* types = nullptr;
  for (const Types& t : kTypeAttempts) {
    CudnnReasons::clear();
    try {
      graph = build_graph(target, v, p, t);
      plan = find_plan(target, *graph);
      types = &t;
      break;
    } catch (const CudnnError& e) {
      const std::string said = CudnnReasons::summary();
      const std::string message = e.message + (said.empty() ? "" : "; cuDNN's reasons: " + said);
      if (&t == &kTypeAttempts[0]) {
        r.status = cudnnGetErrorString(e.status);
        r.message = message;
        r.step = e.call;
      } else {
        r.retries.push_back({t.label, cudnnGetErrorString(e.status), message});
      }
    }
  }
  if (!types) {
    r.state = State::kUnsupported;
    return nullptr;
  }
  r.state = State::kSupported;
  r.types = types->label;
  r.engine = plan.engine;
  r.engine_notes = plan.notes;
  r.heuristic = plan.heuristic;
  r.cfg_index = plan.cfg_index;
  r.cfg_count = plan.cfg_count;
  r.workspace = plan.workspace;
  return types;
}

// Builds, plans, runs and checks one (shape, variant).
Result probe_variant(const Gpu& gpu, const ProbeShape& shape, const Problem& p, const Variant& v,
                     const HostInputs& in, const DeviceInputs& d, uint64_t seed) {
  Result r = new_result(shape, p, v);
  std::unique_ptr<OpGraph> graph;
  Plan plan;
  const Types* types = plan_variant(Target{gpu.handle, nullptr}, v, p, r, graph, plan);
  if (!types) return r;
  try {
    const Reference ref = make_reference(in, v, seed);
    run_supported(gpu, p, v, *types, *graph, plan, in, d, ref, r);
  } catch (const std::exception& e) {
    r.state = State::kError;
    r.error = e.what();
  }
  return r;
}

std::string version_string(int v) { return strf("%d.%d.%d", v / 10000, v / 100 % 100, v % 100); }

// ---- the run --------------------------------------------------------------------------
struct Options {
  bool quick = false, self_test = false;
  int batch = 512, device = 0;
  double budget_s = 100;
  std::vector<std::string> only;  // variant names, empty: all
  std::string deviceless;         // plan only, for this device-properties JSON file (or "h200")
};

bool wanted(const Options& o, const Variant& v) {
  return o.only.empty() || std::find(o.only.begin(), o.only.end(), v.name) != o.only.end();
}

// The work of one shape in one pass: its variants, the problem and a seed.
using ShapeWork = std::function<void(const ProbeShape&, const Problem&, const std::vector<const Variant*>&, uint64_t)>;

// Hands every shape's variants to work, in passes ordered by what matters
// most if the time budget runs out (the brief's three forward patterns,
// temb-add, then the backward ones); once the budget is spent, or stop is
// set, the rest are SKIPPED. Prints each shape's convs before its first work.
void for_each_shape(const Options& opt, const std::vector<ProbeShape>& shapes, int N, double t0, const bool& stop,
                    std::vector<Result>& results, const ShapeWork& work) {
  static const std::vector<std::vector<const Variant*>> kPasses = {
      {&kVariants[0], &kVariants[1], &kVariants[2]}, {&kVariants[3]}, {&kVariants[4], &kVariants[5]}};
  std::set<const ProbeShape*> announced;
  for (const auto& pass : kPasses)
    for (size_t si = 0; si < shapes.size(); ++si) {
      const ProbeShape& shape = shapes[si];
      const Problem p{N, shape.C, shape.H, shape.W, shape.K};
      std::vector<const Variant*> todo;
      for (const Variant* v : pass)
        if (wanted(opt, *v) && applies(*v, shape)) todo.push_back(v);
      if (todo.empty()) continue;
      if (stop || now_s() - t0 > opt.budget_s) {
        for (const Variant* v : todo) {
          Result r = new_result(shape, p, *v);
          r.reason = stop ? "stopped after a CUDA error" : strf("time budget of %.0f s spent", opt.budget_s);
          std::printf("%s\n", format_line(r).c_str());
          results.push_back(r);
        }
        continue;
      }
      if (announced.insert(&shape).second) {
        std::string names;
        for (const std::string& c : shape.convs) names += (names.empty() ? "" : ", ") + c;
        std::printf("# shape C=%d H=%d W=%d K=%d: %s\n", shape.C, shape.H, shape.W, shape.K, names.c_str());
      }
      work(shape, p, todo, 1000 + si);
      std::fflush(stdout);
    }
}

// The summary line and the JSON lines; the exit status.
int finish(const std::vector<Result>& results, double t0, bool stopped) {
  std::printf("%s (%.1f s)\n", format_summary(results).c_str(), now_s() - t0);
  for (const Result& r : results) std::printf("%s\n", format_json(r).c_str());
  const bool ok = std::all_of(results.begin(), results.end(), [](const Result& r) { return r.numbers_ok(); });
  return ok && !stopped ? 0 : 1;
}

// The GPU's properties as cuDNN's JSON, for later --deviceless runs.
std::string device_properties_json(int device) {
  try {
    Desc props(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, "device properties");
    props.set(ATTR(CUDNN_ATTR_DEVICEPROP_DEVICE_ID), CUDNN_TYPE_INT32, 1, &device).finalize();
    const int64_t n = props.get_attr(ATTR(CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION), CUDNN_TYPE_CHAR, 0, nullptr);
    std::string json(static_cast<size_t>(std::max<int64_t>(n, 0)), '\0');
    props.get_attr(ATTR(CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION), CUDNN_TYPE_CHAR, n, json.data());
    return json.c_str();
  } catch (const CudnnError& e) {
    return std::string("unavailable: ") + e.what();
  }
}

int probe(const Options& opt) {
  int count = 0;
  const cudaError_t ce = cudaGetDeviceCount(&count);
  if (ce != cudaSuccess || count == 0) {
    std::printf("cuda_fusion_probe: no CUDA device: nothing to probe (%s)\n",
                ce != cudaSuccess ? cudaGetErrorString(ce) : "the CUDA runtime sees no device");
    return 0;
  }
  if (opt.device < 0 || opt.device >= count) {
    std::fprintf(stderr, "cuda_fusion_probe: --device %d, but there are %d devices\n", opt.device, count);
    return 2;
  }
  const double t0 = now_s();
  const int N = opt.quick ? 8 : opt.batch;
  const std::vector<ProbeShape> shapes = probe_shapes(opt.quick);  // the results point into it
  std::vector<Result> results;
  bool stop = false;
  try {
    Gpu gpu;
    gpu.device = opt.device;
    CUDA_CHECK(cudaSetDevice(gpu.device));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, gpu.device));
    gpu.name = prop.name;
    gpu.sm_count = prop.multiProcessorCount;
    gpu.cc_major = prop.major;
    gpu.cc_minor = prop.minor;
    CUDA_CHECK(cudaStreamCreateWithFlags(&gpu.stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreate(&gpu.start));
    CUDA_CHECK(cudaEventCreate(&gpu.stop));
    CUDNN_CHECK(cudnnCreate(&gpu.handle));
    CudnnReasons::install();
    CUDNN_CHECK(cudnnSetStream(gpu.handle, gpu.stream));
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    std::printf("cuda_fusion_probe: %s (sm_%d%d, %d SMs); cuDNN %s (built against %s); CUDA runtime %d, driver %d; "
                "batch %d, budget %.0f s\n",
                gpu.name.c_str(), gpu.cc_major, gpu.cc_minor, gpu.sm_count,
                version_string(static_cast<int>(cudnnGetVersion())).c_str(), version_string(CUDNN_VERSION).c_str(),
                runtime, driver, N, opt.budget_s);
    std::printf("# device properties json: %s\n", device_properties_json(gpu.device).c_str());
    std::fflush(stdout);
    for_each_shape(opt, shapes, N, t0, stop, results, [&](const ProbeShape& shape, const Problem& p,
                                                          const std::vector<const Variant*>& todo, uint64_t seed) {
      const bool backward = std::any_of(todo.begin(), todo.end(), [](const Variant* v) { return v->kind != Kind::kForward; });
      const HostInputs in = make_inputs(p, seed, backward);
      const DeviceInputs d(in);
      for (const Variant* v : todo) {
        Result r = probe_variant(gpu, shape, p, *v, in, d, seed);
        std::printf("%s\n", format_line(r).c_str());
        std::fflush(stdout);
        results.push_back(r);
        // A sticky CUDA error (an illegal address, ...) poisons the context: stop.
        if (r.state == State::kError && cudaDeviceSynchronize() != cudaSuccess) stop = true;
      }
    });
  } catch (const std::exception& e) {
    std::printf("cuda_fusion_probe: %s\n", e.what());
    finish(results, t0, true);
    return 1;
  }
  return finish(results, t0, stop);
}

// Approximate H200 (SXM) properties in cuDNN's device-properties JSON, from
// the public specifications, for --deviceless h200 on a machine without one;
// a GPU run prints the real ones ("# device properties json:").
const char* kH200Properties =
    R"J({"deviceName":"NVIDIA H200 (approximate)","cudaDeviceId":0,"deviceVer":900,"driverVer":13000,)J"
    R"J("totalGlobalMem":150754820096,"maxGridSize":[2147483647,65535,65535],"maxBlockSize":[1024,1024,64],)J"
    R"J("regsPerBlock":65536,"multiProcessorCount":132,"smCountOrigin":0,"warpSize":32,)J"
    R"J("maxSharedMemoryPerBlock":49152,"maxSharedMemoryPerBlockOptin":232448,"reservedSharedMemoryPerBlock":1024,)J"
    R"J("maxRegistersPerSM":65536,"maxCtasPerSM":32,"maxThreadsPerBlock":1024,"maxThreadsPerSM":2048,)J"
    R"J("pciDeviceId":0,"isTccDriver":0,"supportCoopLaunch":1,"smClockRateKHz":1980000,"memClockRateKHz":3201000,)J"
    R"J("l2CacheSize":52428800})J";

// --deviceless: graphs and plans only (heuristics and plan finalization,
// runtime compilation included) for a device described by JSON; nothing
// runs, so no numbers and no times.
int plan_only(const Options& opt) {
  std::string json = kH200Properties;
  if (opt.deviceless != "h200") {
    FILE* f = std::fopen(opt.deviceless.c_str(), "rb");
    if (!f) {
      std::fprintf(stderr, "cuda_fusion_probe: --deviceless %s: cannot open it (%s)\n", opt.deviceless.c_str(),
                   std::strerror(errno));
      return 2;
    }
    json.clear();
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) json.append(buf, n);
    std::fclose(f);
  }
  const double t0 = now_s();
  const int N = opt.quick ? 8 : opt.batch;
  const std::vector<ProbeShape> shapes = probe_shapes(opt.quick);  // the results point into it
  std::vector<Result> results;
  const bool stop = false;
  try {
    CudnnReasons::install();
    Desc device(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, "device properties (" + opt.deviceless + ")");
    device.set(ATTR(CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION), CUDNN_TYPE_CHAR, static_cast<int64_t>(json.size() + 1),
               json.c_str())
        .finalize();
    std::printf("cuda_fusion_probe --deviceless %s: plans only (no GPU, nothing runs); cuDNN %s; batch %d, budget %.0f s\n",
                opt.deviceless.c_str(), version_string(static_cast<int>(cudnnGetVersion())).c_str(), N, opt.budget_s);
    const Target target{nullptr, &device};
    for_each_shape(opt, shapes, N, t0, stop, results, [&](const ProbeShape& shape, const Problem& p,
                                                          const std::vector<const Variant*>& todo, uint64_t) {
      for (const Variant* v : todo) {
        Result r = new_result(shape, p, *v);
        std::unique_ptr<OpGraph> graph;
        Plan plan;
        plan_variant(target, *v, p, r, graph, plan);
        r.planned_only = true;
        std::printf("%s\n", format_line(r).c_str());
        std::fflush(stdout);
        results.push_back(r);
      }
    });
  } catch (const std::exception& e) {
    std::printf("cuda_fusion_probe: %s\n", e.what());
    finish(results, t0, true);
    return 1;
  }
  return finish(results, t0, stop);
}

}  // namespace

// ===================================================================================
// --self-test: the probe's own logic, no GPU needed.
// ===================================================================================
namespace {

// The naive forward: pad the prologue's output into an [N][H+2][W+2][C]
// array, then the 7-loop convolution; every pixel, exact prologue (rounded
// to bf16 when bf16_prologue).
std::vector<double> naive_forward(const HostInputs& in, const Prologue& pro, bool bf16_prologue) {
  const Problem& p = in.p;
  const int Hp = p.H + 2, Wp = p.W + 2;
  std::vector<double> a(static_cast<size_t>(p.N) * Hp * Wp * p.C, 0.0);
  for (int n = 0; n < p.N; ++n)
    for (int h = 0; h < p.H; ++h)
      for (int w = 0; w < p.W; ++w)
        for (int c = 0; c < p.C; ++c) {
          const double v = prologue_value(in, pro, n, h, w, c);
          a[((static_cast<size_t>(n) * Hp + h + 1) * Wp + w + 1) * p.C + c] = bf16_prologue ? round_bf16(static_cast<float>(v)) : v;
        }
  std::vector<double> y(p.pixels() * p.K, 0.0);
  for (int n = 0; n < p.N; ++n)
    for (int h = 0; h < p.H; ++h)
      for (int w = 0; w < p.W; ++w)
        for (int k = 0; k < p.K; ++k) {
          double s = 0;
          for (int r = 0; r < 3; ++r)
            for (int q = 0; q < 3; ++q)
              for (int c = 0; c < p.C; ++c)
                s += a[((static_cast<size_t>(n) * Hp + h + r) * Wp + w + q) * p.C + c] *
                     bf16_value(in.w[((static_cast<size_t>(k) * 3 + r) * 3 + q) * p.C + c]);
          y[((static_cast<size_t>(n) * p.H + h) * p.W + w) * p.K + k] = s;
        }
  return y;
}

// The naive gradients in one sweep over every (output pixel, channel k,
// tap, input channel): dw (exact prologue) gathered, and dA scattered from
// dy * w, then masked by z > 0 into dz.
void naive_backward(const HostInputs& in, const Prologue& wgrad_pro, const Prologue& dgrad_pro, std::vector<double>* dw,
                    std::vector<double>* dz) {
  const Problem& p = in.p;
  dw->assign(static_cast<size_t>(p.K) * 9 * p.C, 0.0);
  dz->assign(p.pixels() * p.C, 0.0);
  for (int n = 0; n < p.N; ++n)
    for (int h = 0; h < p.H; ++h)
      for (int w = 0; w < p.W; ++w)
        for (int k = 0; k < p.K; ++k) {
          const double d = bf16_value(in.dy[((static_cast<size_t>(n) * p.H + h) * p.W + w) * p.K + k]);
          for (int r = 0; r < 3; ++r)
            for (int q = 0; q < 3; ++q) {
              const int ih = h + r - 1, iw = w + q - 1;
              if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
              for (int c = 0; c < p.C; ++c) {
                const size_t tap = ((static_cast<size_t>(k) * 3 + r) * 3 + q) * p.C + c;
                (*dw)[tap] += prologue_value(in, wgrad_pro, n, ih, iw, c) * d;
                (*dz)[((static_cast<size_t>(n) * p.H + ih) * p.W + iw) * p.C + c] += d * bf16_value(in.w[tap]);
              }
            }
        }
  for (int n = 0; n < p.N; ++n)
    for (int h = 0; h < p.H; ++h)
      for (int w = 0; w < p.W; ++w)
        for (int c = 0; c < p.C; ++c)
          if (!(prologue_value(in, dgrad_pro, n, h, w, c) > 0)) (*dz)[((static_cast<size_t>(n) * p.H + h) * p.W + w) * p.C + c] = 0;
}

const Problem kTiny{2, 8, 5, 4, 3};  // odd sizes, so every padding case occurs

std::vector<Pixel> all_pixels(const Problem& p) { return sample_pixels(p, 1, 0); }

TEST(seed_table_matches_the_unet_parameter_table) {
  const ddpm::UNetConfig cfg = seed_config();
  const std::vector<SeedConv> convs = seed_convs(cfg);
  CHECK(convs.size() == 18);  // conv1 + 4 down + 4 up blocks, two 3x3 convs each
  // The model's own table: every [cout, cin, 3, 3] weight, in order.
  std::unique_ptr<ddpm::Backend> cpu(ddpm::create_cpu_backend(1));
  ddpm::UNet net(*cpu, cfg, 1);
  std::vector<SeedConv> from_model;
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const ddpm::TensorInfo& t = net.param_tensor(i);
    if (t.shape.size() == 4 && t.shape[2] == 3 && t.shape[3] == 3)
      from_model.push_back({t.name.substr(0, t.name.size() - std::strlen(".weight")), static_cast<int>(t.shape[1]), 0, 0,
                            static_cast<int>(t.shape[0])});
  }
  CHECK(from_model.size() == convs.size());
  for (size_t i = 0; i < std::min(convs.size(), from_model.size()); ++i)
    CHECK_MSG(convs[i].name == from_model[i].name && convs[i].cin == from_model[i].cin && convs[i].cout == from_model[i].cout,
              strf("conv %zu: table %s %d->%d, model %s %d->%d", i, convs[i].name.c_str(), convs[i].cin, convs[i].cout,
                   from_model[i].name.c_str(), from_model[i].cin, from_model[i].cout));
  // Channel bookkeeping: a block's second conv keeps its channels; an up
  // block's first conv reads the upsampled and the skip channels, twice its
  // output; spatial size halves per level down and doubles back up.
  for (size_t i = 0; i + 1 < convs.size(); i += 2) {
    CHECK(convs[i + 1].cin == convs[i].cout && convs[i + 1].cout == convs[i].cout);
    CHECK(convs[i + 1].H == convs[i].H && convs[i + 1].W == convs[i].W);
    if (convs[i].name.rfind("up", 0) == 0) CHECK(convs[i].cin == 2 * convs[i].cout);
  }
  CHECK(convs[0].cin == 3 && convs[0].H == 32);
  CHECK(convs[8].name == "down4.conv.conv.0" && convs[8].H == 2 && convs[9].cout == 1024);  // the bottleneck
  CHECK(convs[10].name == "up1.conv.conv.0" && convs[10].cin == 1024 && convs[10].H == 4);
  CHECK(convs[17].name == "up4.conv.conv.3" && convs[17].H == 32 && convs[17].cout == 64);
}

TEST(distinct_shapes_cover_every_conv_once) {
  const std::vector<SeedConv> convs = seed_convs(seed_config());
  const std::vector<ProbeShape> shapes = distinct_shapes(convs);
  CHECK(shapes.size() == 14);  // four up-block second convs repeat a down block's
  size_t covered = 0;
  int block_inputs = 0;
  for (const ProbeShape& s : shapes) {
    covered += s.convs.size();
    block_inputs += s.block_input;
    for (const std::string& n : s.convs) {
      const auto it = std::find_if(convs.begin(), convs.end(), [&](const SeedConv& c) { return c.name == n; });
      CHECK(it != convs.end() && it->cin == s.C && it->H == s.H && it->W == s.W && it->cout == s.K);
    }
  }
  CHECK(covered == convs.size());
  CHECK(block_inputs == 5);  // conv1 and down1-4
  const std::vector<ProbeShape> quick = probe_shapes(true);
  CHECK(quick.size() == 2 && quick[0].C == 64 && quick[0].H == 32 && quick[1].C == 256 && quick[1].H == 8);
}

TEST(forward_reference_matches_the_naive_convolution) {
  const HostInputs in = make_inputs(kTiny, 11, false);
  for (const Variant& v : kVariants) {
    if (v.kind != Kind::kForward) continue;
    const auto ref = forward_reference(in, v.prologue, all_pixels(kTiny));
    const std::vector<double> exact = naive_forward(in, v.prologue, false), rounded = naive_forward(in, v.prologue, true);
    CHECK_CLOSE(std::string(v.name) + " exact prologue", ref[0].data(), exact.data(), exact.size(), 1e-12, 1e-12);
    CHECK_CLOSE(std::string(v.name) + " bf16 prologue", ref[1].data(), rounded.data(), rounded.size(), 1e-12, 1e-12);
  }
  // The two hypotheses differ (or the probe could not tell them apart).
  const auto ref = forward_reference(in, kVariants[0].prologue, all_pixels(kTiny));
  CHECK(check_close(ref[1], ref[0]).rel > 1e-4);
}

TEST(backward_references_match_the_naive_gradients) {
  const HostInputs in = make_inputs(kTiny, 12, true);
  const Prologue wpro = kVariants[4].prologue, dpro = kVariants[5].prologue;
  const std::vector<FilterEntry> entries = sample_filter(kTiny, 1);
  CHECK(static_cast<int64_t>(entries.size()) == 9LL * kTiny.K * kTiny.C);  // small: every entry
  const auto wref = wgrad_reference(in, wpro, entries);
  std::vector<double> dw, dz;
  naive_backward(in, wpro, dpro, &dw, &dz);
  std::vector<double> dw_at(entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    dw_at[i] = dw[((static_cast<size_t>(entries[i].k) * 3 + entries[i].r) * 3 + entries[i].s) * kTiny.C + entries[i].c];
  CHECK_CLOSE("wgrad", wref[0].data(), dw_at.data(), dw_at.size(), 1e-12, 1e-12);
  std::vector<char> dont_care;
  const std::vector<double> dref = dgrad_drelu_reference(in, dpro, all_pixels(kTiny), &dont_care);
  CHECK_CLOSE("dgrad-drelu", dref.data(), dz.data(), dz.size(), 1e-12, 1e-12);
  int masked = 0;
  for (double v : dz) masked += v == 0;
  CHECK(masked > 0 && masked < static_cast<int>(dz.size()));  // ReLU's mask is exercised both ways
}

TEST(every_variant_builds_an_operation_graph) {
  // cuDNN checks the descriptors (dims, strides, types, the convolution's
  // and genstats' shape rules, pointwise broadcasting) when they and the
  // operation graph finalize, which needs no GPU: a mistake in building
  // them fails here, not on the device.
  std::vector<ProbeShape> shapes = probe_shapes(true);
  shapes.push_back(distinct_shapes(seed_convs(seed_config()))[0]);  // C = 3
  for (const ProbeShape& s : shapes)
    for (const Variant& v : kVariants)
      for (const Types& t : kTypeAttempts) {
        const Problem p{4, s.C, s.H, s.W, s.K};
        try {
          const std::unique_ptr<OpGraph> g = build_graph(Target{}, v, p, t);
          // forward: x, w, y (+ sum, sqsum); wgrad: x, dy, dw; dgrad: x, w, dy, dz; + parameters
          const size_t io = (v.kind == Kind::kForward ? 3 + 2 * v.genstats : v.kind == Kind::kWgrad ? 3 : 4) +
                            2 * v.prologue.scale_bias + v.prologue.temb;
          CHECK_MSG(g->io_uids.size() == io, strf("%s: %zu I/O tensors, expected %zu", v.name, g->io_uids.size(), io));
        } catch (const CudnnError& e) {
          CHECK_MSG(false, strf("C=%d %s (%s): ", s.C, v.name, t.label) + e.what());
        }
      }
  // ... and cuDNN does check: a y one pixel too narrow for the 3x3 pad-1 conv is refused.
  const Problem p{4, 64, 8, 8, 64};
  OpGraph g;
  const Desc& x = g.activation("x", kUidX, CUDNN_DATA_BFLOAT16, p.N, p.C, p.H, p.W, false);
  const Desc& w = g.filter("w", kUidW, CUDNN_DATA_BFLOAT16, p);
  const Desc& y = g.activation("y", kUidY, CUDNN_DATA_BFLOAT16, p.N, p.K, p.H, p.W - 1, false);
  CHECK_THROWS(g.convolution("convolution forward", CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                             kForwardConv,
                             x, w, y),
               "CUDNN_STATUS_BAD_PARAM");
}

TEST(checks_pass_bf16_results_and_fail_wrong_ones) {
  const HostInputs in = make_inputs(kTiny, 13, false);
  const Variant& v = kVariants[1];
  const std::vector<Pixel> px = all_pixels(kTiny);
  const auto ref = forward_reference(in, v.prologue, px);
  // What a correct bf16 kernel returns: the reference rounded to bf16.
  std::vector<uint16_t> y(ref[0].size());
  for (size_t i = 0; i < y.size(); ++i) y[i] = bf16_bits(static_cast<float>(ref[0][i]));
  Reference r;
  r.pixels = px;
  r.two = ref;
  Result res;
  const Check good = check_output(decode16(y, CUDNN_DATA_BFLOAT16), kTiny, v, r, false, &res);
  CHECK_MSG(good.pass, "rounded reference: " + good.note);
  CHECK(res.prologue_match == "fp32" && res.rel_fp32 < res.rel_bf16);
  // One element off by 10% of the rms fails; so does a NaN.
  double rms = 0;
  for (double x : ref[0]) rms += x * x;
  rms = std::sqrt(rms / ref[0].size());
  std::vector<uint16_t> off = y;
  off[7] = bf16_bits(static_cast<float>(ref[0][7] + 0.1 * rms));
  CHECK(!check_output(decode16(off, CUDNN_DATA_BFLOAT16), kTiny, v, r, false, &res).pass);
  std::vector<uint16_t> nan = y;
  nan[3] = 0x7fc0;
  const Check c = check_output(decode16(nan, CUDNN_DATA_BFLOAT16), kTiny, v, r, false, &res);
  CHECK(!c.pass && c.note.find("non-finite") != std::string::npos);
  // Sums of the returned y pass; a sum off by 1% of sum|y| fails, a NaN fails.
  const std::vector<float> yf = decode16(y, CUDNN_DATA_BFLOAT16);
  std::vector<float> s(kTiny.K, 0.0f), q(kTiny.K, 0.0f), a(kTiny.K, 0.0f);
  for (int64_t row = 0; row < kTiny.pixels(); ++row)
    for (int k = 0; k < kTiny.K; ++k) {
      const double val = yf[row * kTiny.K + k];
      s[k] += static_cast<float>(val);
      q[k] += static_cast<float>(val * val);
      a[k] += static_cast<float>(std::fabs(val));
    }
  CHECK(check_sums(yf, kTiny.pixels(), kTiny.K, s, q).pass);
  std::vector<float> s_off = s;
  s_off[1] += 0.01f * a[1];
  CHECK(!check_sums(yf, kTiny.pixels(), kTiny.K, s_off, q).pass);
  std::vector<float> q_nan = q;
  q_nan[2] = NAN;
  CHECK(!check_sums(yf, kTiny.pixels(), kTiny.K, s, q_nan).pass);
}

TEST(bf16_conversions_round_to_nearest_even) {
  CHECK(bf16_bits(1.0f) == 0x3f80 && bf16_value(0x3f80) == 1.0f);
  CHECK(bf16_bits(1.0f + 0x1.0p-8f) == 0x3f80);                  // a tie goes to the even 1.0
  CHECK(bf16_bits(1.0f + 3 * 0x1.0p-8f) == 0x3f82);              // a tie goes to the even 1 + 2^-6
  CHECK(bf16_bits(-2.5f) == 0xc020 && bf16_value(0xc020) == -2.5f);
  const std::vector<uint16_t> v = random_bf16(1000, 3, 1, -1.0f, 1.0f);
  for (uint16_t b : v) CHECK(bf16_bits(bf16_value(b)) == b && std::fabs(bf16_value(b)) <= 1.0f);
  CHECK(v == random_bf16(1000, 3, 1, -1.0f, 1.0f) && v != random_bf16(1000, 4, 1, -1.0f, 1.0f));
  // fp16 (the fp16-I/O attempts): exact for these values, bits as IEEE says.
  CHECK(fp16_bits(1.0f) == 0x3c00 && fp16_bits(-2.5f) == 0xc100 && fp16_bits(0x1.0p-24f) == 0x0001);
  CHECK(fp16_value(0x3c00) == 1.0f && fp16_value(0x7bff) == 65504.0f);
  const std::vector<float> f = decode16(v, CUDNN_DATA_BFLOAT16);
  CHECK(decode16(encode16(f, CUDNN_DATA_HALF), CUDNN_DATA_HALF) == f);
}

TEST(output_lines_and_json) {
  const std::vector<ProbeShape> shapes = probe_shapes(false);
  Result sup;
  sup.p = {512, 64, 32, 32, 64};
  sup.shape = &shapes[1];
  sup.variant = &kVariants[0];
  sup.state = State::kSupported;
  sup.types = kTypeAttempts[0].label;
  sup.engine = 12;
  sup.engine_notes = "runtime-compiled,tensor-core";
  sup.workspace = 4096;
  sup.fused_ms = 0.1;
  sup.unfused_ms = 0.2;
  sup.out = {true, true, 0.03, 1e-3, 100, ""};
  sup.sums = {true, true, 0.01, 2e-6, 128, ""};
  sup.base_out = sup.out;
  sup.base_sums = sup.sums;
  sup.prologue_match = "bf16";
  sup.rel_fp32 = 2e-3;
  sup.rel_bf16 = 1e-3;
  sup.sums_semantics = "overwrites";
  const std::string line = format_line(sup);
  CHECK_MSG(line.rfind("fusion N=512 C=64 H=32 W=32 K=64 full: supported engine=12 [runtime-compiled,tensor-core] ws=4KiB "
                       "fused 0.100 ms unfused 0.200 ms (2.00x) y max_abs=0.03 rel=1.00e-03 PASS",
                       0) == 0,
            line);
  CHECK(line.find("sums max_rel=2.00e-06 PASS (overwrites)") != std::string::npos);
  CHECK(line.find("[unfused y PASS sums PASS]") != std::string::npos && sup.numbers_ok());
  Result uns;
  uns.p = {512, 3, 32, 32, 64};
  uns.shape = &shapes[0];
  uns.variant = &kVariants[3];
  uns.state = State::kUnsupported;
  uns.status = "CUDNN_STATUS_NOT_SUPPORTED";
  uns.message = "channels \"3\" not a multiple of 8\nsee log \\ here";
  uns.step = "cudnnBackendFinalize(operation graph)";
  CHECK(format_line(uns) ==
        "fusion N=512 C=3 H=32 W=32 K=64 temb-add: UNSUPPORTED (status CUDNN_STATUS_NOT_SUPPORTED, \"channels \"3\" not "
        "a multiple of 8 see log \\ here\") at cudnnBackendFinalize(operation graph)");
  const std::string json = format_json(uns);
  CHECK_MSG(json.find("\"message\":\"channels \\\"3\\\" not a multiple of 8\\nsee log \\\\ here\"") != std::string::npos, json);
  CHECK(json.front() == '{' && json.back() == '}' && json.find('\n') == std::string::npos);
  CHECK(json.find("\"supported\":false") != std::string::npos && json.find("\"fused_ms\":null") != std::string::npos);
  CHECK(format_json(sup).find("\"y\":{\"pass\":true") != std::string::npos);
  // A wrong number fails the (shape, variant) and shows in the summary.
  Result bad = sup;
  bad.sums.pass = false;
  bad.sums.note = "channel 3: sum 1 (expected 2)";
  CHECK(!bad.numbers_ok() && format_line(bad).find("sums max_rel=2.00e-06 FAIL") != std::string::npos);
  const std::string summary = format_summary({sup, uns, bad});
  CHECK_MSG(summary.find("2/3 (shape, variant) supported (full 2/2 2.00x, temb-add 0/1)") != std::string::npos &&
                summary.find("1 with wrong numbers") != std::string::npos,
            summary);
  CHECK(std::fabs(geometric_mean({2.0, 8.0, kNaN}) - 4.0) < 1e-12);
}

}  // namespace

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--quick] [--batch N] [--device N] [--budget-s S] [--only VARIANT[,VARIANT...]]\n"
               "       [--deviceless DEVICE_PROPERTIES.json|h200] [--self-test]\n"
               "variants: full, no-temb, conv-only, temb-add, wgrad, dgrad-drelu\n",
               argv0);
  return 2;
}

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--quick") opt.quick = true;
    else if (a == "--self-test") opt.self_test = true;
    else if (a == "--batch" && has_value) opt.batch = std::atoi(argv[++i]);
    else if (a == "--device" && has_value) opt.device = std::atoi(argv[++i]);
    else if (a == "--budget-s" && has_value) opt.budget_s = std::atof(argv[++i]);
    else if (a == "--deviceless" && has_value) opt.deviceless = argv[++i];
    else if (a == "--only" && has_value) {
      for (std::string list = argv[++i]; !list.empty();) {
        const size_t comma = list.find(',');
        opt.only.push_back(list.substr(0, comma));
        list = comma == std::string::npos ? "" : list.substr(comma + 1);
      }
    } else {
      return usage(argv[0]);
    }
  }
  if (opt.batch < 1) return usage(argv[0]);
  for (const std::string& name : opt.only)
    if (std::none_of(std::begin(kVariants), std::end(kVariants), [&](const Variant& v) { return name == v.name; }))
      return usage(argv[0]);
  if (opt.self_test) {
    std::printf("cuda_fusion_probe --self-test: shape table, host references, checks and output, no GPU\n");
    char* args[] = {argv[0]};
    return ddpm::testing::run_all(1, args);
  }
  return opt.deviceless.empty() ? probe(opt) : plan_only(opt);
}
