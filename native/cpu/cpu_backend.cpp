// The CPU backend: host memory and the ops of cpu_ops.h on a thread pool.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include "cpu_backend.h"
#include "cpu_ops.h"
#include "ddpm/backend.h"
#include "gemm.h"

namespace ddpm {
namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? std::string("CPU") : line.substr(start);
      }
    }
  }
  return "CPU";
}

class CpuBackend final : public Backend {
 public:
  // The device name carries the GEMM kernels in use ("AMD EPYC, avx512 kernels"), so that every CPU
  // figure printed (bench, info, a run's header and run.json) says which instruction set made it.
  CpuBackend(int threads, cpu::ConvMath math)
      : pool_(threads),
        model_(cpu_model_name() + ", " + cpu::gemm_kernel_name(math == cpu::ConvMath::kBf16) + " kernels"),
        math_(math) {}

  std::string name() const override { return "cpu"; }
  std::string device_name() const override { return model_; }
  int threads() const override { return pool_.threads(); }

  void* alloc(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (!p) throw Error("cpu alloc: out of memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void free(void* p) override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memmove(dst, src, bytes); }
  void fill(float* dst, float value, size_t n) override {
    for (size_t i = 0; i < n; ++i) dst[i] = value;
  }
  void synchronize() override {}

  // The ops: one forwarder per entry of the op table to the kernel of the
  // same name in cpu_ops.h (an op of kind conv also takes the precision).
#define DDPM_CPU_EXTRA_conv pool_, math_
#define DDPM_CPU_EXTRA_act pool_
#define DDPM_CPU_EXTRA_plain pool_
#define DDPM_OP(kind, name, flops, ...) \
  void name(DDPM_OP_PARAMS(__VA_ARGS__)) override { cpu::name(DDPM_CPU_EXTRA_##kind, DDPM_OP_ARGS(__VA_ARGS__)); }
#include "ddpm/ops.def"
#undef DDPM_CPU_EXTRA_conv
#undef DDPM_CPU_EXTRA_act
#undef DDPM_CPU_EXTRA_plain

 private:
  cpu::ThreadPool pool_;
  std::string model_;
  cpu::ConvMath math_;
};

}  // namespace

namespace cpu {

ConvMath conv_math(Precision precision) {
  return precision == Precision::kBf16 ? ConvMath::kBf16 : ConvMath::kFloat32;
}

Backend* create_backend(int threads, Precision precision) {
  if (!gemm_cpu_isa_env_error().empty()) throw Error(gemm_cpu_isa_env_error());
  const ConvMath math = conv_math(precision);
  if (math == ConvMath::kBf16 && !gemm_cpu_has_bf16())
    throw Error("precision bf16 on the CPU needs the AVX512_BF16 instruction set (vdpbf16ps), which this CPU (" +
                cpu_model_name() + ") does not have" +
                (gemm_cpu_isa() != GemmIsa::kAvx512 && std::getenv("DDPM_CPU_ISA")
                     ? std::string(" with DDPM_CPU_ISA=") + std::getenv("DDPM_CPU_ISA")
                     : std::string()));
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  if (threads <= 0) threads = 1;
  return new CpuBackend(threads, math);
}

}  // namespace cpu

Backend* create_cpu_backend(int threads) { return cpu::create_backend(threads, Precision::kFp32); }

void destroy_backend(Backend* backend) { delete backend; }

}  // namespace ddpm
