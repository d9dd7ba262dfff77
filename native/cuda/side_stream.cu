// SideStream (side_stream.h): the weight gradients' stream and its hazards.
#include "side_stream.h"

#include <utility>

#include "common.cuh"

namespace ddpm {
namespace cuda {

namespace {
bool overlap(const SideStream::Range& r, const void* p, size_t bytes) {
  const char* a = static_cast<const char*>(r.p);
  const char* b = static_cast<const char*>(p);
  return r.p && p && r.bytes > 0 && bytes > 0 && a < b + bytes && b < a + r.bytes;
}
}  // namespace

SideStream::SideStream(cudaStream_t main) : main_(main) {
  DDPM_CUDA("create_cuda_backend", cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
  // Events made up front: a step being captured then needs none made (a
  // UNet step holds at most one pending task per convolution).
  for (int i = 0; i < 64; ++i) {
    cudaEvent_t e = nullptr;
    const cudaError_t err = cudaEventCreateWithFlags(&e, cudaEventDisableTiming);
    if (err != cudaSuccess) {
      cudaGetLastError();
      break;  // take() makes more when it needs them
    }
    free_.push_back(e);
  }
}

SideStream::~SideStream() {
  for (Task& t : pending_) free_.push_back(t.done);
  for (cudaEvent_t e : free_) cudaEventDestroy(e);
  if (side_) cudaStreamDestroy(side_);
}

cudaEvent_t SideStream::take(const char* op) { return take_pooled_event(free_, op); }

void SideStream::fork(const char* op) {
  cudaEvent_t e = take(op);
  DDPM_CUDA(op, cudaEventRecord(e, main_));
  DDPM_CUDA(op, cudaStreamWaitEvent(side_, e, 0));
  free_.push_back(e);  // the wait has taken its dependency: reusable
}

void SideStream::done(const char* op, std::vector<Range> reads, std::vector<Range> writes) {
  cudaEvent_t e = take(op);
  DDPM_CUDA(op, cudaEventRecord(e, side_));
  pending_.push_back(Task{e, std::move(reads), std::move(writes)});
}

// The side stream runs its tasks in order: waiting for task i waits for the
// earlier ones too, so they all leave the list with one wait.
void SideStream::join_through(size_t i, const char* op) {
  DDPM_CUDA(op, cudaStreamWaitEvent(main_, pending_[i].done, 0));
  for (size_t j = 0; j <= i; ++j) free_.push_back(pending_[j].done);
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(i + 1));
}

void SideStream::access(const void* p, size_t bytes, bool written, const char* op) {
  for (size_t i = pending_.size(); i-- > 0;) {
    const Task& t = pending_[i];
    bool conflict = false;
    for (const Range& w : t.writes) conflict = conflict || overlap(w, p, bytes);
    if (written)
      for (const Range& r : t.reads) conflict = conflict || overlap(r, p, bytes);
    if (conflict) {
      join_through(i, op);
      return;
    }
  }
}

void SideStream::join_all(const char* op) {
  if (!pending_.empty()) join_through(pending_.size() - 1, op);
}

}  // namespace cuda
}  // namespace ddpm
