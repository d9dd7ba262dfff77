// The CUDA backend's public entry points (library ddpm_cuda, bound by
// org.ddpm4j.binding.DdpmCuda). Everything else of the backend is reached
// through ddpm::Backend.
#pragma once

#include <string>

#include "ddpm/backend.h"

namespace ddpm {
namespace cuda {

// Numerics of a CUDA backend:
//   kFp32  all math IEEE float32;
//   kTf32  TF32 tensor-core math in convolutions and GEMMs (faster, about 1e-3
//          relative error), float32 storage;
//   kBf16  activations stored as bfloat16 channels-last (NHWC) and
//          convolutions on bf16 tensor cores with float32 accumulation;
//          parameters, gradients, Adam state, BatchNorm statistics and every
//          reduction stay float32 (mixed precision with float32 master
//          weights). GEMMs of the time MLPs use TF32.
enum class Precision { kFp32 = 0, kTf32 = 1, kBf16 = 2 };
// "fp32", "tf32", "bf16"; anything else throws ddpm::Error naming the choices.
Precision parse_precision(const std::string& name);
const char* precision_name(Precision p);

// A backend on `device` with its own stream, cuDNN and cuBLAS handles.
// Throws ddpm::Error with the CUDA/cuDNN status text on failure.
Backend* create_cuda_backend(int device, Precision precision);
// create_cuda_backend(device, parse_precision(precision)), for the Java binding.
Backend* create_cuda_backend_named(int device, const std::string& precision);

// One line on a CUDA backend's recorded training steps (CUDA graphs): on/off,
// eager, captured and replayed steps; "" for any other backend.
std::string step_graph_stats(const Backend& backend);

// Number of CUDA devices the runtime sees (0 when there is no driver or GPU).
int device_count();
std::string device_name(int device);
// "CUDA runtime 13.0, driver 13.0, cuDNN 9.x.y, cuBLAS 13.x.y"
std::string versions();

}  // namespace cuda
}  // namespace ddpm
