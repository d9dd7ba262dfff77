#include "thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DDPM_CPU_RELAX() _mm_pause()
#else
#define DDPM_CPU_RELAX() ((void)0)
#endif

namespace ddpm {
namespace cpu {

ThreadPool::ThreadPool(int threads) {
  int extra = std::max(1, threads) - 1;
  workers_.reserve(extra);
  for (int i = 0; i < extra; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_chunks(const std::function<void(int64_t, int64_t)>& fn, int64_t count,
                            int64_t grain, int64_t chunks) {
  for (;;) {
    int64_t chunk = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= chunks) return;
    int64_t begin = chunk * grain;
    int64_t end = std::min(count, begin + grain);
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    // Spin briefly for the next job before sleeping on the condition variable.
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (int i = 0; published_generation_.load(std::memory_order_acquire) == seen; ++i) {
      DDPM_CPU_RELAX();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() >= spin_until) break;
    }
    const std::function<void(int64_t, int64_t)>* job;
    int64_t count, grain, chunks;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      // A job that already finished (cleared under this lock) is not joined;
      // one still in flight cannot finish until this worker leaves it.
      if (job_ == nullptr) continue;
      job = job_;
      count = count_;
      grain = grain_;
      chunks = chunks_;
      ++active_;
    }
    run_chunks(*job, count, grain, chunks);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t count, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = (count + grain - 1) / grain;
  if (chunks == 1 || workers_.empty()) {
    for (int64_t c = 0; c < chunks; ++c) fn(c * grain, std::min(count, (c + 1) * grain));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    count_ = count;
    grain_ = grain;
    chunks_ = chunks;
    next_chunk_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    ++generation_;
    published_generation_.store(generation_, std::memory_order_release);
  }
  wake_.notify_all();
  run_chunks(fn, count, grain, chunks);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_ == 0 && next_chunk_.load() >= chunks_; });
    job_ = nullptr;
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace cpu
}  // namespace ddpm
