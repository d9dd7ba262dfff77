// A small fixed pool of worker threads for the CPU backend.
//
// parallel_for splits [0, count) into fixed chunks whose boundaries depend only
// on count and grain, never on the number of threads, so every op computes
// the same floating-point result whatever the thread count (bit-for-bit
// determinism). The calling thread takes part in the work.
//
// An idle worker spins for a short while (kSpinMicros) before it sleeps:
// during training the ops follow each other within microseconds, and waking
// a sleeping thread (a futex wake, on a VM an inter-processor interrupt to a
// halted vCPU) costs tens of microseconds per op.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ddpm {
namespace cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) on disjoint chunks covering [0, count); each chunk
  // holds `grain` indices (the last may hold fewer). Rethrows the first
  // exception a chunk threw, after all chunks finished.
  void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop();
  void run_chunks(const std::function<void(int64_t, int64_t)>& fn, int64_t count, int64_t grain,
                  int64_t chunks);

  std::vector<std::thread> workers_;
  static constexpr int kSpinMicros = 100;

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> published_generation_{0};  // generation_, readable without the lock
  bool stopping_ = false;
  int active_ = 0;

  // The job in flight.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t count_ = 0, grain_ = 1, chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  std::exception_ptr error_;
  std::mutex error_mutex_;
};

// A parallel_for grain for items (planes, channels) of `item_elements`
// values each: enough items per chunk that a chunk holds about
// kChunkElements values, so that ops over many small planes (a 2x2 or 4x4
// level) do not pay a chunk's scheduling cost per plane; never below
// `min_grain`. A function of the sizes only, like every grain.
constexpr int64_t kChunkElements = 16 * 1024;
inline int64_t grain_for(int64_t item_elements, int64_t min_grain = 1) {
  const int64_t g = kChunkElements / (item_elements > 0 ? item_elements : 1);
  return g > min_grain ? g : min_grain;
}

}  // namespace cpu
}  // namespace ddpm
