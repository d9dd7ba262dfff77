// The CUDA backend's public entry points (library ddpm_cuda, bound by
// org.ddpm4j.binding.DdpmCuda). Everything else of the backend is reached
// through ddpm::Backend.
#pragma once

#include <string>

#include "ddpm/backend.h"

namespace ddpm {
namespace cuda {

// A backend on `device` with its own stream, cuDNN and cuBLAS handles.
// tf32 allows TF32 tensor-core math in convolutions and GEMMs (faster, about
// 1e-3 relative error); with tf32 = false all math is IEEE fp32.
// Throws ddpm::Error with the CUDA/cuDNN status text on failure.
Backend* create_cuda_backend(int device, bool tf32);

// Number of CUDA devices the runtime sees (0 when there is no driver or GPU).
int device_count();
std::string device_name(int device);
// "CUDA runtime 13.0, driver 13.0, cuDNN 9.x.y, cuBLAS 13.x.y"
std::string versions();

}  // namespace cuda
}  // namespace ddpm
