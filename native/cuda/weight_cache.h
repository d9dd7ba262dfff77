// The bf16 (K, RS, C) copies of the float32 conv weights that cuDNN's NHWC
// convolutions read (precision bf16), made once per recorded step instead
// of once per convolution call.
//
// Inside Backend::step_begin .. step_end a conv weight does not change
// before the step's last convolution that reads it (backend.h: the
// optimizer runs after the backward). So the step's first request converts
// every weight known so far in one launch, each into its own copy, and the
// rest of the step -- the forward's other layers, the backward's data
// gradients -- reads the copies: one launch a step where there were two
// per layer (forward and data gradient), and in a sampler step one where
// there was one per layer. Outside a step get() answers nullptr and the
// caller converts into the engine's scratch per call, as before.
//
// A weight is learned at its first request in an eager step (its copy is
// allocated then, converted on its own); the device table of the batched
// conversion is rebuilt at the next step_begin, before any capture, and
// recorded steps holding the old table are dropped (note_device_realloc).
// A new weight met while a graph is being captured, or one whose shape
// differs from the one learned, gets nullptr (the caller's scratch path).
// free() of the memory behind a learned weight forgets it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "bf16.cuh"
#include "common.cuh"

namespace ddpm {
namespace cuda {

// One filter of the batched conversion (device table entry).
struct KrscJob {
  const float* w;  // (K, C, RS) float32
  bf16* out;       // (K, RS, C) bfloat16
  long long KC;    // K * C
  int C, RS;
};

class WeightCache {
 public:
  WeightCache() = default;
  ~WeightCache();
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;

  // w's bf16 (K, RS, C) copy as of this step, or nullptr (see above).
  const bf16* get(const Ctx& ctx, const float* w, int K, int C, int RS, const char* op);
  // From the backend's step_begin, before the step's recording is looked up
  // (a rebuilt table makes the recordings holding the old one stale), then
  // set_capturing once it is known whether the step's ops are being
  // captured (no allocation then).
  void step_begin(cudaStream_t stream);
  void set_capturing(bool capturing) { capturing_ = capturing; }
  void step_end() { in_step_ = false; }
  // The memory [base, base + bytes) is being freed: forget its weights.
  void forget(const void* base, size_t bytes);

  size_t weights() const { return entries_.size(); }
  size_t bytes() const;

 private:
  struct Entry {
    const float* w;
    int K, C, RS;
    bf16* copy;
    uint64_t converted = 0;  // the step whose values the copy holds (0: none)
  };
  void convert_all(const Ctx& ctx, const char* op);
  void release_table();

  std::vector<Entry> entries_;
  std::unordered_map<const float*, size_t> index_;
  uint64_t step_ = 0;  // steps begun so far
  bool in_step_ = false, capturing_ = false;
  bool batched_ = false;  // the table's weights were converted in this step
  KrscJob* table_ = nullptr;
  size_t tabled_ = 0;      // entries_[0, tabled_) are in the table
};

namespace ops {
namespace nhwc {
// layout.cu: every job of the device table `jobs` (njobs of them), one launch.
void weights_to_krsc_batched(const Ctx& ctx, const KrscJob* jobs, int njobs, long long max_kc, const char* op);
}  // namespace nhwc
}  // namespace ops

}  // namespace cuda
}  // namespace ddpm
