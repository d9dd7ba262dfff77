// WeightCache (weight_cache.h): the per-step bf16 copies of the conv weights.
#include "weight_cache.h"

#include <algorithm>

#include "ops.h"
#include "step_graph.h"

namespace ddpm {
namespace cuda {

WeightCache::~WeightCache() {
  release_table();
  for (Entry& e : entries_) cudaFree(e.copy);
}

void WeightCache::release_table() {
  if (table_) cudaFree(table_);
  table_ = nullptr;
  tabled_ = 0;
}

size_t WeightCache::bytes() const {
  size_t b = 0;
  for (const Entry& e : entries_) b += sizeof(bf16) * static_cast<size_t>(e.K) * e.C * e.RS;
  return b;
}

void WeightCache::step_begin(cudaStream_t stream) {
  ++step_;
  in_step_ = true;
  capturing_ = false;
  batched_ = false;
  if (tabled_ == entries_.size()) return;  // forget() empties the table (tabled_ 0)
  // Weights were learned (or forgotten) since the table was made: make it
  // again, here, before any capture begins.
  const char* op = "weight cache";
  if (table_) {
    DDPM_CUDA(op, cudaStreamSynchronize(stream));  // a replay may still read the old table
    release_table();
    note_device_realloc();  // recordings launching the old table are stale
  }
  if (entries_.empty()) return;
  std::vector<KrscJob> jobs;
  jobs.reserve(entries_.size());
  for (const Entry& e : entries_) jobs.push_back(KrscJob{e.w, e.copy, static_cast<long long>(e.K) * e.C, e.C, e.RS});
  void* table = nullptr;
  if (cudaMalloc(&table, sizeof(KrscJob) * jobs.size()) != cudaSuccess) {
    cudaGetLastError();  // no memory for the table: each weight converts on its own
    return;
  }
  table_ = static_cast<KrscJob*>(table);
  DDPM_CUDA(op, cudaMemcpy(table_, jobs.data(), sizeof(KrscJob) * jobs.size(), cudaMemcpyHostToDevice));
  tabled_ = jobs.size();
}

void WeightCache::convert_all(const Ctx& ctx, const char* op) {
  long long max_kc = 0;
  for (size_t i = 0; i < tabled_; ++i)
    max_kc = std::max(max_kc, static_cast<long long>(entries_[i].K) * entries_[i].C);
  ops::nhwc::weights_to_krsc_batched(ctx, table_, static_cast<int>(tabled_), max_kc, op);
  for (size_t i = 0; i < tabled_; ++i) entries_[i].converted = step_;
  batched_ = true;
}

const bf16* WeightCache::get(const Ctx& ctx, const float* w, int K, int C, int RS, const char* op) {
  if (!in_step_ || K <= 0 || C <= 0 || RS <= 0) return nullptr;
  auto it = index_.find(w);
  if (it == index_.end()) {
    if (capturing_) return nullptr;  // no allocation while recording
    void* copy = nullptr;
    if (cudaMalloc(&copy, sizeof(bf16) * static_cast<size_t>(K) * C * RS) != cudaSuccess) {
      cudaGetLastError();  // no memory for a copy: the caller's scratch path
      return nullptr;
    }
    it = index_.emplace(w, entries_.size()).first;
    entries_.push_back(Entry{w, K, C, RS, static_cast<bf16*>(copy), 0});
  }
  Entry& e = entries_[it->second];
  if (e.K != K || e.C != C || e.RS != RS) return nullptr;
  if (e.converted == step_) return e.copy;
  if (!batched_ && it->second < tabled_) {
    convert_all(ctx, op);
    return e.copy;
  }
  ops::nhwc::weights_to_krsc(ctx, w, e.copy, K, C, RS, op);
  e.converted = step_;
  return e.copy;
}

void WeightCache::forget(const void* base, size_t bytes) {
  const char* lo = static_cast<const char*>(base);
  const char* hi = lo + bytes;
  bool any = false;
  for (size_t i = 0; i < entries_.size();) {
    const char* p = reinterpret_cast<const char*>(entries_[i].w);
    if (p >= lo && p < hi) {
      cudaFree(entries_[i].copy);
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
      any = true;
    } else {
      ++i;
    }
  }
  if (!any) return;
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].w, i);
  release_table();
  note_device_realloc();  // recordings reading the freed copies are stale
}

}  // namespace cuda
}  // namespace ddpm
