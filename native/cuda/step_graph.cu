// CUDA graph recording of a training step: see step_graph.h.
#include "step_graph.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ddpm {
namespace cuda {

namespace {
std::atomic<uint64_t> g_realloc_generation{0};
}  // namespace

void note_device_realloc() { g_realloc_generation.fetch_add(1); }
uint64_t device_realloc_generation() { return g_realloc_generation.load(); }

StepGraphs::StepGraphs(bool enabled) : enabled_(enabled) {
  const char* v = std::getenv("DDPM_CUDA_VERBOSE");
  verbose_ = v && *v && std::strcmp(v, "0") != 0;
}

StepGraphs::~StepGraphs() { clear(); }

void StepGraphs::clear() {
  if (verbose_ && (captured_ || replayed_)) std::fprintf(stderr, "[ddpm cuda] step graphs: %s\n", stats().c_str());
  for (auto& kv : keys_)
    for (auto& r : kv.second.rec) release(r);
  keys_.clear();
  ks_ = nullptr;
  cur_ = nullptr;
  mode_ = Mode::kOff;
}

void StepGraphs::forget(uint64_t owner) {
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (it->first.first == owner) {
      for (auto& r : it->second.rec) release(r);
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
}

// The last captured step's kernels and all its nodes (kernels, copies,
// memsets, event waits): what one replay launches.
void StepGraphs::count_nodes(cudaGraph_t graph) {
  size_t n = 0;
  if (cudaGraphGetNodes(graph, nullptr, &n) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  std::vector<cudaGraphNode_t> nodes(n);
  if (n > 0 && cudaGraphGetNodes(graph, nodes.data(), &n) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  size_t kernels = 0;
  for (size_t i = 0; i < n; ++i) {
    cudaGraphNodeType t;
    if (cudaGraphNodeGetType(nodes[i], &t) == cudaSuccess && t == cudaGraphNodeTypeKernel) ++kernels;
  }
  cudaGetLastError();
  last_nodes_ = static_cast<long long>(n);
  last_kernels_ = static_cast<long long>(kernels);
  if (last_kernels_ > max_kernels_) {
    max_kernels_ = last_kernels_;
    max_nodes_ = last_nodes_;
  }
}

std::string StepGraphs::stats() const {
  std::string s = std::string(enabled_ ? "on" : "off") + ", " + std::to_string(eager_) + " eager steps, " +
                  std::to_string(captured_) + " captured, " + std::to_string(replayed_) + " replayed, " +
                  std::to_string(dropped_) + " recordings dropped";
  if (last_nodes_ >= 0)
    s += "; captures: the largest " + std::to_string(max_kernels_) + " kernels in " + std::to_string(max_nodes_) +
         " graph nodes, the last " + std::to_string(last_kernels_) + " in " + std::to_string(last_nodes_);
  if (!disabled_why_.empty()) s += "; turned off: " + disabled_why_;
  return s;
}

void StepGraphs::release(Recording& r) {
  // The device may still be replaying it.
  if (r.done) cudaEventSynchronize(r.done);
  if (r.exec) cudaGraphExecDestroy(r.exec);
  if (r.done) cudaEventDestroy(r.done);
  if (r.host) cudaFreeHost(r.host);
  if (r.dev) cudaFree(r.dev);
  cudaGetLastError();
  r = Recording{};
}

void StepGraphs::prepare_slots(Recording& r) {
  const char* op = "step_begin";
  if (!r.host) DDPM_CUDA(op, cudaMallocHost(reinterpret_cast<void**>(&r.host), sizeof(StepScalars) * kMaxSlots));
  if (!r.dev) DDPM_CUDA(op, cudaMalloc(reinterpret_cast<void**>(&r.dev), sizeof(StepScalars) * kMaxSlots));
  if (!r.done) DDPM_CUDA(op, cudaEventCreateWithFlags(&r.done, cudaEventDisableTiming));
}

void StepGraphs::disable(const std::string& why) {
  if (!enabled_) return;
  enabled_ = false;
  disabled_why_ = why;
  std::fprintf(stderr, "ddpm cuda: CUDA graphs turned off for this backend (steps run op by op): %s\n", why.c_str());
}

void StepGraphs::begin(uint64_t owner, uint64_t key) {
  mode_ = Mode::kOff;
  cur_ = nullptr;
  ks_ = nullptr;
  call_ = 0;
  slot_ = 0;
  if (!enabled_) return;
  if (!stream_) return;
  KeyState& ks = keys_[{owner, key}];
  ks_ = &ks;
  mode_ = Mode::kEager;
  if (ks.eager_steps < 1) return;  // the first step chooses algorithms and sizes scratch
  Recording& r = ks.rec[ks.next];
  const uint64_t gen = device_realloc_generation();
  if (r.exec && r.generation != gen) {  // scratch moved since: stale pointers
    release(r);
    ++dropped_;
  }
  if (r.exec) {
    // Its slots are rewritten below: the previous replay must have read them.
    DDPM_CUDA("step_begin", cudaEventSynchronize(r.done));
    cur_ = &r;
    mode_ = Mode::kReplay;
    return;
  }
  prepare_slots(r);
  r.calls.clear();
  r.generation = gen;
  cur_ = &r;
  // Work enqueued before (uploads) stays outside the graph; a sticky earlier
  // error must not be blamed on the capture.
  DDPM_CUDA("step_begin", cudaPeekAtLastError());
  const cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    disable(std::string("cudaStreamBeginCapture failed: ") + cudaGetErrorString(e));
    mode_ = Mode::kOff;
    cur_ = nullptr;
    return;
  }
  mode_ = Mode::kCapture;
}

bool StepGraphs::check(uint64_t sig, const char* op) {
  if (call_ < cur_->calls.size() && cur_->calls[call_] == sig) {
    ++call_;
    return true;
  }
  if (call_ == 0) {
    // Another op sequence under this key (another model, other buffers):
    // nothing was skipped yet, so this step runs eagerly and the recording
    // is made again from the next step on.
    release(*cur_);
    ++dropped_;
    ks_->eager_steps = 0;
    mode_ = Mode::kEager;
    cur_ = nullptr;
    return false;
  }
  throw Error(std::string("cuda ") + op + ": the step's op sequence differs from its CUDA graph recording at op " +
              std::to_string(call_) + " (ops of a recorded step must not change between steps)");
}

bool StepGraphs::skip(uint64_t sig, const char* op) {
  switch (mode_) {
    case Mode::kCapture:
      cur_->calls.push_back(sig);
      return false;
    case Mode::kReplay:
      return check(sig, op);
    default:
      return false;
  }
}

StepGraphs::Scalars StepGraphs::scalars(uint64_t sig, const StepScalars& values, const char* op) {
  if (mode_ == Mode::kReplay && !check(sig, op)) mode_ = Mode::kEager;  // fell back at call 0
  if (mode_ != Mode::kCapture && mode_ != Mode::kReplay) return Scalars{false, nullptr};
  if (slot_ >= kMaxSlots)
    throw Error(std::string("cuda ") + op + ": more than " + std::to_string(kMaxSlots) +
                " per-step scalar ops in one recorded step");
  const int i = slot_++;
  cur_->host[i] = values;
  if (mode_ == Mode::kReplay) return Scalars{true, nullptr};
  cur_->calls.push_back(sig);
  // A memcpy node: every replay copies the slot's current host value.
  DDPM_CUDA(op, cudaMemcpyAsync(cur_->dev + i, cur_->host + i, sizeof(StepScalars), cudaMemcpyHostToDevice, stream_));
  return Scalars{false, cur_->dev + i};
}

bool StepGraphs::end() {
  const Mode mode = mode_;
  mode_ = Mode::kOff;
  Recording* r = cur_;
  cur_ = nullptr;
  if (mode == Mode::kOff) return true;
  if (mode == Mode::kEager) {
    ++ks_->eager_steps;
    ++eager_;
    return true;
  }
  const char* op = "step_end";
  if (mode == Mode::kReplay) {
    if (call_ != r->calls.size())
      throw Error("cuda step_end: the step made " + std::to_string(call_) + " op calls, its CUDA graph recording " +
                  std::to_string(r->calls.size()));
    DDPM_CUDA(op, cudaGraphLaunch(r->exec, stream_));
    DDPM_CUDA(op, cudaEventRecord(r->done, stream_));
    ks_->next ^= 1;
    ++replayed_;
    return true;
  }
  // Capture.
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(stream_, &graph);
  if (e == cudaSuccess) count_nodes(graph);
  if (e == cudaSuccess) e = cudaGraphInstantiate(&r->exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (r->exec) cudaGraphExecDestroy(r->exec);
    r->exec = nullptr;
    disable(std::string("capturing a step failed: ") + cudaGetErrorString(e));
    return false;  // nothing of the step ran
  }
  if (r->generation != device_realloc_generation()) {
    // Something reallocated during the capture (it would have failed, but
    // be safe): the graph may hold a freed pointer.
    cudaGraphExecDestroy(r->exec);
    r->exec = nullptr;
    disable("device scratch was reallocated while a step was captured");
    return false;
  }
  DDPM_CUDA(op, cudaGraphLaunch(r->exec, stream_));
  DDPM_CUDA(op, cudaEventRecord(r->done, stream_));
  ks_->next ^= 1;
  ++captured_;
  return true;
}

void StepGraphs::abort() {
  if (mode_ == Mode::kCapture) {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (cur_) cur_->calls.clear();
  }
  mode_ = Mode::kOff;
  cur_ = nullptr;
}

}  // namespace cuda
}  // namespace ddpm
