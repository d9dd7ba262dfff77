// Recording and replaying the device work of a training step, or of one
// reverse step of the sampler, as a CUDA graph (Backend::step_begin /
// step_end), so that a step costs one graph launch on the host instead of
// ~600 kernel launches and ~70 cuDNN calls (a sampler step: ~150 and ~20).
//
// Per (owner, key) (the caller's names for a fixed op sequence: the model,
// and its batch):
//   1. the first step runs eagerly: it chooses the cuDNN algorithms and grows
//      every workspace, so that nothing allocates or synchronises afterwards;
//   2. the next two steps are captured (cudaStreamBeginCapture), each into
//      its own graph with its own scalar slots (ping-pong), and launched;
//   3. later steps replay graph (step & 1): every op call only checks its
//      signature (op, pointers, sizes) against the recording and skips its
//      launch. The few ops whose scalars change every step (random streams,
//      the loss slot, Adam's bias correction; a sampler step's coefficients,
//      noise stream and first sample index) write them into a pinned host
//      slot that the graph copies to the device (a memcpy node) before the
//      kernel that reads it. A slot set is rewritten only after the previous
//      replay of its graph has finished (an event), so the host may run one
//      step ahead of the device.
// A recording is dropped when the op sequence differs at its first op (e.g.
// another model with the same key) or when any device scratch was
// reallocated since it was made (its pointers are baked into the graph); a
// failed capture (something in the step was not capturable) turns recording
// off for the backend, and step_end() reports that the step did not run so
// the caller repeats it eagerly. DDPM_CUDA_GRAPHS=0 (or DDPM_CUDA_SYNC)
// disables recording.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common.cuh"

namespace ddpm {
namespace cuda {

// Device scratch reallocations so far (GrowBuffer, the cuDNN workspace):
// recordings made before the last one are stale.
void note_device_realloc();
uint64_t device_realloc_generation();

// FNV-1a over the bytes of each argument: an op call's signature.
class Sig {
 public:
  explicit Sig(uint64_t op) { mix(&op, sizeof(op)); }
  static uint64_t of(const char* name) {
    uint64_t h = 1469598103934665603ull;
    for (; *name; ++name) h = (h ^ static_cast<unsigned char>(*name)) * 1099511628211ull;
    return h;
  }
  template <typename T>
  Sig& operator<<(const T& v) {
    mix(&v, sizeof(T));
    return *this;
  }
  uint64_t value() const { return h_; }

 private:
  void mix(const void* p, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ b[i]) * 1099511628211ull;
  }
  uint64_t h_ = 1469598103934665603ull;
};

class StepGraphs {
 public:
  explicit StepGraphs(bool enabled);
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  void set_stream(cudaStream_t stream) { stream_ = stream; }
  void begin(uint64_t owner, uint64_t key);
  // true when the step's work ran (eagerly, or captured and launched, or replayed).
  bool end();
  void abort();
  // Drops the recordings of an owner (a model being destroyed), or all.
  void forget(uint64_t owner);
  void clear();
  // Between begin and end of a captured or replayed step.
  bool recording() const { return mode_ == Mode::kCapture || mode_ == Mode::kReplay; }
  // Between begin and end of a step whose ops are being captured.
  bool capturing() const { return mode_ == Mode::kCapture; }

  // Non-scalar ops: true = skip the launch (replaying).
  bool skip(uint64_t sig, const char* op);
  // Ops with per-step scalars: `dev` is the device copy of `values` the kernel
  // must read (nullptr when running eagerly: use the by-value arguments).
  struct Scalars {
    bool skip;
    const StepScalars* dev;
  };
  Scalars scalars(uint64_t sig, const StepScalars& values, const char* op);

  bool enabled() const { return enabled_; }
  std::string stats() const;

 private:
  static constexpr int kMaxSlots = 16;
  struct Recording {
    cudaGraphExec_t exec = nullptr;
    cudaEvent_t done = nullptr;
    uint64_t generation = 0;
    std::vector<uint64_t> calls;
    StepScalars* host = nullptr;  // pinned, kMaxSlots
    StepScalars* dev = nullptr;   // device, kMaxSlots
  };
  struct KeyState {
    int eager_steps = 0;
    int next = 0;
    Recording rec[2];
  };
  enum class Mode { kOff, kEager, kCapture, kReplay };

  void release(Recording& r);
  void prepare_slots(Recording& r);
  void disable(const std::string& why);
  bool check(uint64_t sig, const char* op);  // replay: signature matches (may fall back to eager at call 0)

  cudaStream_t stream_ = nullptr;
  bool enabled_;
  bool verbose_;
  Mode mode_ = Mode::kOff;
  KeyState* ks_ = nullptr;
  Recording* cur_ = nullptr;
  size_t call_ = 0;
  int slot_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, KeyState> keys_;
  void count_nodes(cudaGraph_t graph);

  long long captured_ = 0, replayed_ = 0, eager_ = 0, dropped_ = 0;
  long long last_kernels_ = -1, last_nodes_ = -1;  // the last captured step's (count_nodes)
  long long max_kernels_ = -1, max_nodes_ = -1;    // the capture with the most kernels
  std::string disabled_why_;
};

}  // namespace cuda
}  // namespace ddpm
