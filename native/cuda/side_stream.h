// Weight gradients on a second stream (precision bf16; on by default since
// an H200 run: the whole-UNet gradients against the CPU and the step graphs'
// bit-identical replay passed with it, and the batch-512 training step ran
// 1.2-1.5% faster; DDPM_CUDA_ASYNC_WGRAD=0 keeps one stream).
//
// Why: a convolution's weight gradient (tensor-core bound) depends on
// nothing that follows it in the backward, while the data gradient and the
// BatchNorm / pooling passes after it (memory bound) do not need its
// result until the optimizer. Run on their own stream, the weight
// gradients overlap those passes instead of running between them.
//
// How: conv.cu forks the side stream from the backend's stream (an event),
// runs the weight gradient and its layout conversion there, and records
// the task's inputs and output with a "done" event. Every later op of the
// backend checks its arguments against the pending tasks (the op table's
// roles say which it reads and writes): an op that writes what a task
// reads, or touches what a task writes, makes the backend's stream wait
// for that task first. Every other backend call (copies, uploads,
// downloads, synchronisation, the end of a recorded step) waits for all of
// them. Inside a CUDA graph capture the events become the graph's edges.
// The cuDNN handle and workspace switch to the side stream's for the call
// (ConvEngine::use_side).
//
// The backend's side regions (Backend::side_begin: the time MLPs) are tasks
// of the same kind: their ops run here, with the backend's second cuBLAS
// handle, and the task's reads and writes are those of its ops' tensors.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

namespace ddpm {
namespace cuda {

class SideStream {
 public:
  explicit SideStream(cudaStream_t main);
  ~SideStream();
  SideStream(const SideStream&) = delete;
  SideStream& operator=(const SideStream&) = delete;

  cudaStream_t stream() const { return side_; }

  struct Range {
    const void* p;
    size_t bytes;
  };
  // The side stream waits for the work enqueued on the main stream so far.
  void fork(const char* op);
  // The work enqueued on the side stream since fork reads `reads` and writes `writes`.
  void done(const char* op, std::vector<Range> reads, std::vector<Range> writes);
  // The main stream is about to read (written = false) or write [p, p + bytes):
  // it waits for every pending task this conflicts with.
  void access(const void* p, size_t bytes, bool written, const char* op);
  // The main stream waits for every pending task.
  void join_all(const char* op);
  bool idle() const { return pending_.empty(); }

 private:
  struct Task {
    cudaEvent_t done;
    std::vector<Range> reads, writes;
  };
  cudaEvent_t take(const char* op);
  void join_through(size_t i, const char* op);

  cudaStream_t main_;
  cudaStream_t side_ = nullptr;
  std::vector<cudaEvent_t> free_;
  std::vector<Task> pending_;
};

}  // namespace cuda
}  // namespace ddpm
