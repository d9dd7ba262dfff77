// One direction of one convolution shape through cuDNN's backend graph API
// (cudnn_graph.h's cudnnBackend* descriptors), for the bf16 channels-last
// convolutions of ConvEngine (conv.h).
//
// Why: the legacy API (cudnnConvolutionForward & co., cudnnFind*) reaches only
// cuDNN's legacy engines. The graph API's heuristics also offer its
// runtime-compiled and newer precompiled engines; on an H200 (cuDNN 9.19,
// cuda_fusion_probe) a runtime-compiled data-gradient engine ran the seed
// model's 3x3 convolutions 1.5-3x faster than the legacy algorithm cudnnFind
// chose. ConvEngine times these candidates beside its legacy choice, on the
// same buffers, checks each candidate's result against the legacy one, and
// keeps the fastest (see conv.cu, ConvEngine::prepare).
//
// Tensors keep the legacy descriptors' meaning: x (N, C, H, W) and y (N, K,
// P, Q) bf16 NHWC, w (K, C, R, R) bf16 KRSC, float32 accumulation, zero
// padding `pad`, stride `stride`, cross-correlation. In every direction the
// x-shaped tensor is bound as uid 1, the filter-shaped one as uid 2 and the
// y-shaped one as uid 3 (forward: x, w -> y; backward data: w, dy -> dx;
// backward filter: x, dy -> dw).
#pragma once

#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

namespace ddpm {
namespace cuda {

struct ConvShape;  // conv.h

// A forward convolution's pointwise epilogue, in float32 before y's one
// rounding: y = relu?(conv * scale[k] + shift[k]) + add[n, k], each part
// present when its flag is set (shift alone: a bias).
struct ConvEpilogue {
  bool scale = false, shift = false, relu = false, add = false;
  int key() const { return int(scale) | int(shift) << 1 | int(relu) << 2 | int(add) << 3; }
  bool empty() const { return key() == 0; }
};

// The tensors of one execution, bound by uid: the x-, w- and y-shaped bf16
// tensors (1, 2, 3) and the epilogue's float32 scale[K], shift[K] and
// add[N, K] (4, 5, 6; only those the epilogue uses).
struct ConvPointers {
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* add = nullptr;
};

class GraphConv {
 public:
  // dir: 0 forward, 1 backward data, 2 backward filter (ConvEngine::Dir);
  // an epilogue only with dir 0. Builds and finalizes the operation graph;
  // throws ddpm::Error when cuDNN refuses it.
  GraphConv(cudnnHandle_t handle, const ConvShape& s, int dir, const ConvEpilogue& epilogue = {});
  ~GraphConv();
  GraphConv(const GraphConv&) = delete;
  GraphConv& operator=(const GraphConv&) = delete;

  // Finalizes execution plans for up to `limit` engine configs, in the order
  // of heuristics mode A and then the fallback list, leaving out engines
  // whose numerical notes say they down-convert inputs, reduce in reduced
  // precision or are nondeterministic, and configs that do not finalize
  // (runtime-compiled engines compile here, when NVRTC can be loaded).
  // Returns how many candidates there are.
  int plan_candidates(int limit);
  int candidates() const { return static_cast<int>(plans_.size()); }
  size_t workspace(int i) const;
  // "engine 4 [runtime-compiled,tensor-core]"
  std::string describe(int i) const;

  // Runs candidate i once on the handle's stream (pointers by uid as above);
  // the status, so a search can skip a candidate that does not run.
  cudnnStatus_t execute(int i, const ConvPointers& t, void* workspace);
  // Runs candidate i through a variant pack kept for the last pointers
  // (rebuilt only when they change); throws ddpm::Error naming `op`.
  void run(const char* op, int i, const ConvPointers& t, void* workspace);

  // Why the last plan_candidates found fewer than asked, for the log.
  const std::string& notes() const { return notes_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  struct Candidate;
  std::vector<std::unique_ptr<Candidate>> plans_;
  std::string notes_;
  ConvEpilogue epilogue_;
};

}  // namespace cuda
}  // namespace ddpm
