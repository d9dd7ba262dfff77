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
// Precision (ddpm::Precision):
//   kFp32  float32 NCHW tensors, CUDNN_FMA_MATH on every descriptor (strict fp32);
//   kTf32  float32 NCHW tensors, starts from CUDNN_DEFAULT_MATH (TF32 allowed on
//          sm_80+) and keeps the math type of the algorithm that was chosen;
//   kBf16  bfloat16 NHWC tensors and filters (K, R, S, C), float32
//          accumulation (cuDNN's PSEUDO_BFLOAT16_CONFIG), tensor-op math.
// In kBf16 the engine also holds the bf16 copies of the weights that the ops
// of conv.cu convert per call (weight_scratch).
//
// In kBf16 a searched direction also tries cuDNN's backend graph API
// (conv_graph.h): up to DDPM_CUDNN_GRAPH_LIMIT (8) of its engine configs are
// timed beside the legacy algorithm on the same buffers, each checked
// against the legacy result first, and the fastest is kept (a graph engine
// only when it is at least 3% faster). DDPM_CUDNN_GRAPH: "auto" (the
// default), "off" (legacy algorithms only), "force" (a graph engine wherever
// one plans and passes the check, whatever the timings: for tests).
// DDPM_CUDNN_FUSED=1 also tries forward convolutions with their following
// pointwise pass (bias; eval BatchNorm + ReLU + add) as one graph
// (forward_fused), under the same search; off by default until run on a GPU.
#pragma once

#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include <functional>
#include <utility>

#include "bf16.cuh"
#include "common.cuh"
#include "conv_graph.h"

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
  // The shape without the batch: the key under which searches are remembered.
  std::tuple<int, int, int, int, int, int, int> geometry() const { return std::tie(C, H, W, K, R, pad, stride); }
  std::string str() const;
};

class ConvEngine {
 public:
  ConvEngine(cudaStream_t stream, Precision precision);
  ~ConvEngine();
  ConvEngine(const ConvEngine&) = delete;
  ConvEngine& operator=(const ConvEngine&) = delete;

  // Tensors are float (kFp32, kTf32) or bf16 (kBf16), as the precision says.
  // y = conv(x, w)               (overwrite)
  void forward(const char* op, const ConvShape& s, const void* x, const void* w, void* y);
  // dx = conv^T(dy, w)           (overwrite); dy has y's shape, dx has x's
  void backward_data(const char* op, const ConvShape& s, const void* w, const void* dy, void* dx);
  // dw = sum x (*) dy            (overwrite)
  void backward_filter(const char* op, const ConvShape& s, const void* x, const void* dy, void* dw);

  // The forward convolution followed by `epilogue` (conv_graph.h) as one
  // cuDNN graph, where a plan of it is faster than `unfused` (the
  // convolution and the caller's own pass over y, which the search runs on
  // its own buffers and checks the plans against); false, having run
  // nothing, where none was chosen for this shape (the caller then runs
  // its unfused path). Searched once per shape and epilogue, at the largest
  // batch of its geometry; only in kBf16 with DDPM_CUDNN_FUSED=1 (not yet
  // run on a GPU: off by default).
  bool forward_fused(const char* op, const ConvShape& s, const void* x, const void* w, void* y,
                     const ConvEpilogue& epilogue, const ConvPointers& epilogue_tensors,
                     const std::function<void(bf16* x, bf16* w, bf16* y)>& unfused);

  // Whether a direction (kForward, kBackwardData, kBackwardFilter) of shape
  // s runs the caller's own kernels (`own`) instead of cuDNN's
  // (`library`): decided at the shape's first run outside a capture by
  // timing both on the call's buffers (each writes the same output; the
  // caller then runs the chosen one), and remembered; DDPM_CUDA_SMALL_CIN=off
  // never, force always; cuDNN's under DDPM_CUDNN_ALGO=heuristic, which times
  // nothing. Logged with DDPM_CUDA_VERBOSE.
  static constexpr int kForward = 0, kBackwardData = 1, kBackwardFilter = 2;
  bool prefer_own(const char* op, const ConvShape& s, int direction, const char* own_name,
                  const std::function<void()>& own, const std::function<void()>& library);

  Precision precision() const { return precision_; }
  // DDPM_CUDNN_FUSED=1 in precision bf16: forward_fused may run an epilogue.
  bool fused_epilogues() const { return fused_ && precision_ == Precision::kBf16; }
  // kBf16: bf16 buffers of at least `elems` values each (slot 0: the
  // weights, slot 1: their gradient, slot 2: the gradient on the side
  // stream), grown on first use of a larger filter (host blocking, like the
  // workspace), then reused.
  bf16* weight_scratch(const char* op, size_t elems, int slot);
  size_t weight_scratch_bytes(int slot) const { return wscratch_[slot].bytes(); }
  // kBf16, the first layer on cuDNN with its channels padded to 8 (conv.cu):
  // whether to pad (DDPM_CUDA_PAD_CIN=0: cuDNN on the narrow tensors), and
  // bf16 scratch for the padded tensors (slot 0: x, slot 1: dx), grown like
  // weight_scratch.
  bool pad_small_cin() const { return pad_cin_; }
  bf16* pad_scratch(const char* op, size_t elems, int slot);

  // The weight gradients' stream (side_stream.h): set_side gives it a
  // workspace of its own, grown with the main one; between use_side(true)
  // and use_side(false) cuDNN runs on it with that workspace. ready: the
  // shape's direction was set up (a first run does that, on the main stream).
  void set_side(cudaStream_t side) { side_stream_ = side; }
  void use_side(bool on);
  bool ready(const ConvShape& s, int direction) const;

  size_t workspace_bytes() const { return ws_.bytes(); }
  int plans() const { return static_cast<int>(plans_.size()); }
  // How many (shape, direction) pairs run a graph-API engine, and how many were searched.
  int graph_choices() const { return graph_choices_; }
  int searches() const { return searches_; }

 private:
  struct Plan;
  enum Dir { kFwd = 0, kBwdData = 1, kBwdFilter = 2 };
  Plan& plan(const char* op, const ConvShape& s);
  void prepare(const char* op, const ConvShape& s, Plan& p, Dir d);
  // The graph-API search of prepare() (kBf16, searched directions).
  void search_graph(const char* op, const ConvShape& s, Plan& p, Dir d, float legacy_ms);
  // The legacy algorithm of p's direction d on the given tensors.
  void run_legacy(const char* op, Plan& p, Dir d, void* x_like, void* w_like, void* y_like);
  // The searches' race: `reference` and each of g's candidates on the same
  // patterned buffers (the candidates' epilogue tensors from
  // epilogue_tensors), each candidate checked against the reference's
  // result, then timed; ran is false when the buffers did not fit.
  struct Race {
    bool ran = false;
    int best = -1;
    float t_best = 1e30f, t_ref = 0.0f;
    std::string rejected;
  };
  Race race(const char* op, const ConvShape& s, Dir d, GraphConv& g, size_t ws_floor,
            const std::function<void(bf16* x, bf16* w, bf16* y)>& reference, const ConvPointers& epilogue_tensors);
  // A graph-API plan chosen for a (shape, direction[, epilogue]); pick < 0: none.
  struct GraphChoice {
    std::unique_ptr<GraphConv> graph;
    int pick = -1;
  };
  // Builds the graph, plans its candidates and races them against
  // `reference` (named reference_name in the log); a choice where one is
  // faster (or, with DDPM_CUDNN_GRAPH=force, passes the check).
  GraphChoice choose_graph(const char* op, const ConvShape& s, Dir d, const ConvEpilogue& epilogue,
                           const std::string& what, size_t ws_floor, const std::string& reference_name,
                           const std::function<void(bf16* x, bf16* w, bf16* y)>& reference,
                           const ConvPointers& epilogue_tensors);
  void reserve(const char* op, size_t bytes);
  // The mean time of 5 runs of fn on the stream, best of 2 rounds, after one warm-up run.
  float time_ms(const char* op, const std::function<void()>& fn);

  cudaStream_t stream_;
  Precision precision_;
  bool tensor_ops_;        // reduced-precision tensor-op algorithms allowed (kTf32, kBf16)
  bool find_ = true;       // cudnnFind* (benchmark) or the _v7 heuristics
  bool verbose_ = false;   // DDPM_CUDA_VERBOSE: log each algorithm choice to stderr
  // The two switches' values are the constructor's parse (0 off, 1 auto, 2 force).
  enum GraphMode { kGraphOff, kGraphAuto, kGraphForce } graph_mode_ = kGraphAuto;  // DDPM_CUDNN_GRAPH
  int graph_limit_ = 8;    // DDPM_CUDNN_GRAPH_LIMIT
  int graph_choices_ = 0, searches_ = 0;
  bool fused_ = false;     // DDPM_CUDNN_FUSED
  enum OwnMode { kOwnOff, kOwnAuto, kOwnForce } own_mode_ = kOwnAuto;  // DDPM_CUDA_SMALL_CIN
  std::map<std::pair<ConvShape, int>, bool> own_choice_;              // prefer_own's decisions
  std::map<std::pair<ConvShape, int>, GraphChoice> fused_plans_;  // by shape and epilogue key
  // Per (geometry, epilogue key): the largest batch searched for a fused plan.
  std::map<std::pair<std::tuple<int, int, int, int, int, int, int>, int>, int> fused_searched_n_;
  size_t ws_cap_;          // largest workspace an algorithm may use
  cudnnHandle_t handle_ = nullptr;
  GrowBuffer ws_;  // the workspace, grown to the largest an algorithm asked for
  GrowBuffer ws_side_;               // the side stream's workspace, ws_'s size
  GrowBuffer* ws_active_ = &ws_;     // the one the run paths use
  cudaStream_t side_stream_ = nullptr;
  std::map<ConvShape, std::unique_ptr<Plan>> plans_;
  // Per (geometry, direction): the largest batch whose algorithm was found by
  // benchmarking. A smaller batch of the same geometry (an epoch's last,
  // partial batch; a sampler's remainder chunk) takes cuDNN's heuristics: a
  // shape seen once an epoch does not repay a search that costs seconds.
  std::map<std::pair<std::tuple<int, int, int, int, int, int, int>, int>, int> searched_n_;
  GrowBuffer wscratch_[3];
  GrowBuffer pscratch_[2];
  bool pad_cin_ = true;
};

}  // namespace cuda
}  // namespace ddpm
