// The CUDA backend's public entry points (library ddpm_cuda, bound by
// org.ddpm4j.binding.DdpmCuda). Everything else of the backend is reached
// through ddpm::Backend.
#pragma once

#include <string>

#include "ddpm/backend.h"

namespace ddpm {
namespace cuda {

// A backend on `device` with its own stream, cuDNN and cuBLAS handles, in
// `precision` (ddpm::Precision, backend.h: in kBf16 the activations are
// bfloat16 channels-last and the time MLPs' GEMMs use TF32).
// Throws ddpm::Error with the CUDA/cuDNN status text on failure.
Backend* create_cuda_backend(int device, Precision precision);
// create_cuda_backend(device, parse_precision(precision)), for the Java binding.
Backend* create_cuda_backend_named(int device, const std::string& precision);

// One line on a CUDA backend's recorded training steps (CUDA graphs): on/off,
// eager, captured and replayed steps; "" for any other backend.
std::string step_graph_stats(const Backend& backend);
// One line on a CUDA backend's convolutions: how many searched (shape,
// direction) pairs run a cuDNN graph-API engine; "" for any other backend.
std::string conv_engine_stats(const Backend& backend);

// Number of CUDA devices the runtime sees (0 when there is no driver or GPU).
int device_count();
std::string device_name(int device);
// "CUDA runtime 13.0, driver 13.0, cuDNN 9.x.y, cuBLAS 13.x.y"
std::string versions();

}  // namespace cuda
}  // namespace ddpm
