// One op (or fused block) prepared on a backend with its own random buffers,
// so benchmarks (JMH through the Java binding, or C++ tools) can time it in
// isolation: construct once, call run() repeatedly, synchronize() to wait.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ddpm/backend.h"

namespace ddpm {

class OpBench {
 public:
  // kind:
  //   "block_forward"  conv3x3(Cin->Cout) + BatchNorm(train) + ReLU, forward
  //   "block_backward" its backward (BN-ReLU backward, conv backward incl. dx)
  //   "adam"           one Adam update over N*Cin*H*W parameters (H, W, Cout unused)
  //   "noise_add"      q-sample of N images of Cin x H x W (Cout unused)
  //   "reverse_step"   one ancestral step (with in-kernel noise) of N images
  OpBench(Backend& backend, const std::string& kind, int N, int Cin, int Cout, int H, int W);
  ~OpBench();
  OpBench(const OpBench&) = delete;
  OpBench& operator=(const OpBench&) = delete;

  void run();
  void synchronize() { backend_.synchronize(); }
  // Floating-point operations of one run() (multiply-add = 2), 0 when not meaningful.
  double flops() const { return flops_; }
  // Bytes one run() must move through memory at the least.
  double bytes() const { return bytes_; }

 private:
  float* buffer(size_t n, uint32_t seed);

  Backend& backend_;
  std::string kind_;
  int N_, Cin_, Cout_, H_, W_;
  double flops_ = 0, bytes_ = 0;
  std::vector<void*> allocations_;
  float *x_ = nullptr, *w_ = nullptr, *b_ = nullptr, *z_ = nullptr, *y_ = nullptr;
  float *gamma_ = nullptr, *beta_ = nullptr, *rm_ = nullptr, *rv_ = nullptr, *sm_ = nullptr, *si_ = nullptr;
  float *dy_ = nullptr, *dz_ = nullptr, *dx_ = nullptr, *dw_ = nullptr, *db_ = nullptr, *dg_ = nullptr, *dbe_ = nullptr;
  float *m_ = nullptr, *v_ = nullptr, *table_ = nullptr;
  int32_t* t_ = nullptr;
  int64_t step_ = 0;
};

}  // namespace ddpm
