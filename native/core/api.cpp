#include "ddpm/api.h"
#include "ddpm/unet.h"

#include <dlfcn.h>

#include <sstream>
#include <vector>

#include "cpu_backend.h"

#ifndef DDPM_VERSION
#define DDPM_VERSION "0.0.0"
#endif

namespace ddpm {
namespace api {

std::string version() { return DDPM_VERSION; }

int loss_ring() { return UNet::kLossRing; }

Backend* create_cpu_backend_named(int threads, const std::string& precision) {
  return cpu::create_backend(threads, parse_precision(precision));
}

static const TensorInfo& info(const UNet& net, int kind, int i) {
  if (kind == 0) return net.param_tensor(i);
  if (kind == 1) return net.buffer_tensor(i);
  throw Error("tensor kind must be 0 (parameters) or 1 (buffers), got " + std::to_string(kind));
}
std::string tensor_name(const UNet& net, int kind, int i) { return info(net, kind, i).name; }
int64_t tensor_offset(const UNet& net, int kind, int i) { return info(net, kind, i).offset; }
int tensor_rank(const UNet& net, int kind, int i) { return static_cast<int>(info(net, kind, i).shape.size()); }
int64_t tensor_dim(const UNet& net, int kind, int i, int d) {
  const auto& s = info(net, kind, i).shape;
  if (d < 0 || d >= static_cast<int>(s.size())) throw Error("tensor_dim: dimension out of range");
  return s[d];
}

std::vector<double> karras_sigmas(const UNet& net, int steps) {
  return ddpm::karras_sigmas(Schedule::of(net.config()), steps);
}

std::vector<int> karras_timesteps(const UNet& net, int steps) {
  const Schedule schedule = Schedule::of(net.config());
  std::vector<int> ts;
  for (double sigma : ddpm::karras_sigmas(schedule, steps)) ts.push_back(timestep_of_sigma(schedule, sigma));
  return ts;
}

namespace {
thread_local std::string probe_error;

using CuInit = int (*)(unsigned int);
using CuDeviceGetCount = int (*)(int*);
using CuGetErrorString = int (*)(int, const char**);

std::string cu_error(void* lib, int code) {
  auto get = reinterpret_cast<CuGetErrorString>(dlsym(lib, "cuGetErrorString"));
  const char* text = nullptr;
  if (get && get(code, &text) == 0 && text) return std::string(text) + " (CUresult " + std::to_string(code) + ")";
  return "CUresult " + std::to_string(code);
}
}  // namespace

std::string cuda_probe_error() { return probe_error; }

int cuda_device_count() {
  probe_error.clear();
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    probe_error = "no NVIDIA driver: libcuda.so.1 could not be loaded";
    return -1;
  }
  auto init = reinterpret_cast<CuInit>(dlsym(lib, "cuInit"));
  auto count = reinterpret_cast<CuDeviceGetCount>(dlsym(lib, "cuDeviceGetCount"));
  if (!init || !count) {
    probe_error = "libcuda.so.1 lacks cuInit/cuDeviceGetCount";
    return -1;
  }
  int rc = init(0);
  if (rc == 100) {  // CUDA_ERROR_NO_DEVICE
    probe_error = "no CUDA-capable GPU is present (cuInit: " + cu_error(lib, rc) + ")";
    return -1;
  }
  if (rc != 0) {
    probe_error = "the NVIDIA driver could not start (cuInit: " + cu_error(lib, rc) + ")";
    return -1;
  }
  int n = 0;
  rc = count(&n);
  if (rc != 0) {
    probe_error = "cuDeviceGetCount failed: " + cu_error(lib, rc);
    return -1;
  }
  if (n == 0) probe_error = "no CUDA-capable GPU is present";
  return n;  // the driver stays loaded: the CUDA backend needs it next
}

std::string preload_cuda_libraries(const std::string& dirs) {
  // Dependency order: each library's needs are loaded before it.
  // NVRTC (optional): cuDNN's runtime-compiled engines load it by name, so
  // one found here lets the convolution search (cuda/conv.cu) try them.
  static const char* kLibs[] = {
      "libcublasLt.so.13", "libcublas.so.13", "libnvrtc.so.13", "libcudnn_graph.so.9",
      "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9", "libcudnn_heuristic.so.9",
      "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9", "libcudnn.so.9"};
  static const bool kRequired[] = {true, true, false, false, false, false, false, true, true, false, true};
  static_assert(sizeof(kLibs) / sizeof(kLibs[0]) == sizeof(kRequired) / sizeof(kRequired[0]), "one flag a library");
  std::vector<std::string> search;
  std::stringstream ss(dirs);
  std::string d;
  while (std::getline(ss, d, ':'))
    if (!d.empty()) search.push_back(d);
  std::string missing;
  for (size_t i = 0; i < sizeof(kLibs) / sizeof(kLibs[0]); ++i) {
    void* h = nullptr;
    for (const auto& dir : search) {
      h = dlopen((dir + "/" + kLibs[i]).c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (h) break;
    }
    if (!h) h = dlopen(kLibs[i], RTLD_NOW | RTLD_GLOBAL);
    if (!h && kRequired[i]) missing += (missing.empty() ? "" : ", ") + std::string(kLibs[i]);
  }
  if (missing.empty()) return "";
  return "CUDA libraries not found: " + missing + " (searched " + (dirs.empty() ? std::string("") : dirs + " and ") +
         "the system library path; install cuDNN 9 and cuBLAS 13, or pass their lib folders with --cuda-libs)";
}

}  // namespace api
}  // namespace ddpm
