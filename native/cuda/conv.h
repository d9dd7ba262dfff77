// cuDNN convolutions for the CUDA backend: one ConvEngine per backend holds
// the cuDNN handle (on the backend's stream), a plan per convolution shape
// (descriptors + the algorithm chosen for each direction) and one workspace.
//
// A plan's algorithms are chosen once, the first time a shape is used in a
// direction: by cudnnFind*Algorithm (benchmarks every algorithm; host
// blocking; the default) or by the cudnnGet*Algorithm_v7 heuristics when
// DDPM_CUDNN_ALGO=heuristic. The workspace grows only then, so a training
// step after the first one neither allocates nor waits.
//
// Math: tf32 = false sets CUDNN_FMA_MATH on every descriptor (strict fp32);
// tf32 = true starts from CUDNN_DEFAULT_MATH (TF32 allowed on sm_80+) and
// keeps the math type of the algorithm that was chosen.
#pragma once

#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "common.cuh"

namespace ddpm {
namespace cuda {

[[noreturn]] void throw_cudnn(const char* op, const char* call, cudnnStatus_t s);
inline void check_cudnn(cudnnStatus_t s, const char* op, const char* call) {
  if (s != CUDNN_STATUS_SUCCESS) throw_cudnn(op, call, s);
}
#define DDPM_CUDNN(op, call) ::ddpm::cuda::check_cudnn((call), (op), #call)

// A forward convolution x (N, C, H, W) * w (K, C, R, R) -> y (N, K, P, Q),
// zero padding `pad`, stride `stride`, cross-correlation.
struct ConvShape {
  int N, C, H, W, K, R, pad, stride;
  bool operator<(const ConvShape& o) const {
    return std::tie(N, C, H, W, K, R, pad, stride) < std::tie(o.N, o.C, o.H, o.W, o.K, o.R, o.pad, o.stride);
  }
  std::string str() const;
};

class ConvEngine {
 public:
  ConvEngine(cudaStream_t stream, bool tf32);
  ~ConvEngine();
  ConvEngine(const ConvEngine&) = delete;
  ConvEngine& operator=(const ConvEngine&) = delete;

  // y = conv(x, w)               (overwrite)
  void forward(const char* op, const ConvShape& s, const float* x, const float* w, float* y);
  // dx = conv^T(dy, w)           (overwrite); dy has y's shape, dx has x's
  void backward_data(const char* op, const ConvShape& s, const float* w, const float* dy, float* dx);
  // dw = sum x (*) dy            (overwrite)
  void backward_filter(const char* op, const ConvShape& s, const float* x, const float* dy, float* dw);

  size_t workspace_bytes() const { return ws_bytes_; }
  int plans() const { return static_cast<int>(plans_.size()); }

 private:
  struct Plan;
  enum Dir { kFwd = 0, kBwdData = 1, kBwdFilter = 2 };
  Plan& plan(const char* op, const ConvShape& s);
  void prepare(const char* op, const ConvShape& s, Plan& p, Dir d);
  void reserve(const char* op, size_t bytes);

  cudaStream_t stream_;
  bool tf32_;
  bool find_ = true;       // cudnnFind* (benchmark) or the _v7 heuristics
  bool verbose_ = false;   // DDPM_CUDA_VERBOSE: log each algorithm choice to stderr
  size_t ws_cap_;          // largest workspace an algorithm may use
  cudnnHandle_t handle_ = nullptr;
  void* ws_ = nullptr;
  size_t ws_bytes_ = 0;
  std::map<ConvShape, std::unique_ptr<Plan>> plans_;
};

}  // namespace cuda
}  // namespace ddpm
