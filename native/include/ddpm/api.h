// The surface the JavaCPP binding (org.ddpm4j.binding.DdpmCpu) sees: the
// Backend and UNet classes plus flat accessors for what JNI maps poorly
// (std::vector fields), the version, and a CUDA probe that needs no CUDA
// library at link time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/unet.h"

namespace ddpm {
namespace api {

std::string version();
// UNet::kLossRing: the losses of this many last training steps stay readable on the backend.
int loss_ring();

// The CPU backend with a precision: "fp32" or "tf32" (float32: the CPU has no
// TF32), or "bf16" (convolutions on bf16 operands with float32 sums; needs
// AVX512_BF16, else throws ddpm::Error saying so). threads <= 0: all cores.
Backend* create_cpu_backend_named(int threads, const std::string& precision);

// Tensor table accessors; kind 0 = parameters, 1 = BatchNorm buffers.
std::string tensor_name(const UNet& net, int kind, int i);
int64_t tensor_offset(const UNet& net, int kind, int i);
int tensor_rank(const UNet& net, int kind, int i);
int64_t tensor_dim(const UNet& net, int kind, int i, int d);

// A DPM-Solver++ run of `steps` over Karras sigmas for the model's schedule:
// the levels (ddpm::karras_sigmas) and the timestep the model sees at each
// (ddpm::timestep_of_sigma; they can repeat).
std::vector<double> karras_sigmas(const UNet& net, int steps);
std::vector<int> karras_timesteps(const UNet& net, int steps);

// CUDA probe through the driver library (dlopen("libcuda.so.1")), so it links
// nothing from CUDA and is safe on machines without it. Returns the number of
// CUDA devices, or -1 with the reason in cuda_probe_error().
int cuda_device_count();
std::string cuda_probe_error();

// dlopen()s cuBLAS/cuBLASLt and every cuDNN 9 library with RTLD_GLOBAL, looking
// first in the colon-separated `dirs`, then in the loader's default search
// path, so that the CUDA binding then links against them. Returns "" when all
// were found, else one line naming what is missing and where it looked.
std::string preload_cuda_libraries(const std::string& dirs);

}  // namespace api
}  // namespace ddpm
