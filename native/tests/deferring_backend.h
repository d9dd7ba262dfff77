// A Backend decorator for the tests that runs side regions (Backend::side_begin)
// as late as the CUDA backend's second stream could: a region's op calls are
// held back until a later call meets its tensors, by the same rule as
// cuda/side_stream.cu's (the op table's roles: the later call writes what the
// region reads, or reads or writes what it writes), or until a call that is
// not an op of the table (copy, fill, transfers, synchronize, step brackets,
// free), which waits for every region as the CUDA backend's do. Every other
// call runs on the inner backend at once, so it overtakes the held regions.
// A UNet whose results on this backend are bit for bit those of the inner
// backend alone declares its side regions correctly: a region that read a
// tensor a later call overwrote without the roles saying so, or whose result
// a later call read before it ran, would change them. Nothing here needs a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/op_calls.h"

namespace ddpm {
namespace testing {

class DeferringBackend final : public Backend {
 public:
  explicit DeferringBackend(Backend& inner) : in_(inner) {}

  int64_t regions = 0;     // side regions closed
  int64_t held_ops = 0;    // op calls held back in a region
  int64_t overtaken = 0;   // op calls that ran while a region issued before them was still held
  int64_t forced = 0;      // regions run because a later op met their tensors

  std::string name() const override { return in_.name(); }
  std::string device_name() const override { return in_.device_name(); }
  int threads() const override { return in_.threads(); }
  void* alloc(size_t bytes) override { return in_.alloc(bytes); }
  void free(void* p) override {
    run_all();
    in_.free(p);
  }
  void upload(void* d, const void* s, size_t b) override {
    run_all();
    in_.upload(d, s, b);
  }
  void download(void* d, const void* s, size_t b) override {
    run_all();
    in_.download(d, s, b);
  }
  void copy(void* d, const void* s, size_t b) override {
    run_all();
    in_.copy(d, s, b);
  }
  void fill(float* d, float v, size_t n) override {
    run_all();
    in_.fill(d, v, n);
  }
  void synchronize() override {
    run_all();
    in_.synchronize();
  }
  void* alloc_host(size_t bytes) override { return in_.alloc_host(bytes); }
  void free_host(void* p) override { in_.free_host(p); }
  void download_async(void* h, const void* s, size_t bytes) override {
    run_all();
    in_.download_async(h, s, bytes);
  }
  void fence_record() override {
    run_all();
    in_.fence_record();
  }
  void fence_wait() override { in_.fence_wait(); }
  ActivationFormat activation_format() const override { return in_.activation_format(); }
  size_t activation_bytes(size_t n) const override { return in_.activation_bytes(n); }
  // Hazard-checked, not a wait for every region: the CUDA backend's conversions are.
  void to_activation(const float* s, float* d, int N, int C, int HW) override {
    const size_t n = static_cast<size_t>(N) * C * HW;
    meet(s, n * sizeof(float), false);
    meet(d, in_.activation_bytes(n), true);
    in_.to_activation(s, d, N, C, HW);
  }
  void from_activation(const float* s, float* d, int N, int C, int HW) override {
    const size_t n = static_cast<size_t>(N) * C * HW;
    meet(s, in_.activation_bytes(n), false);
    meet(d, n * sizeof(float), true);
    in_.from_activation(s, d, N, C, HW);
  }
  void step_begin(uint64_t owner, uint64_t key) override {
    run_all();
    in_.step_begin(owner, key);
  }
  bool step_end() override {
    run_all();
    return in_.step_end();
  }
  void step_abort() override {
    held_.clear();
    open_ = false;
    in_.step_abort();
  }
  void step_forget(uint64_t owner) override { in_.step_forget(owner); }

  void side_begin() override {
    if (open_) throw Error("DeferringBackend: side_begin inside a side region");
    open_ = true;
    held_.emplace_back();
  }
  void side_end() override {
    if (!open_) throw Error("DeferringBackend: side_end without side_begin");
    open_ = false;
    ++regions;
    if (held_.back().calls.empty()) held_.pop_back();
  }

#define DDPM_OP(kind, name, flops, ...) \
  void name(DDPM_OP_PARAMS(__VA_ARGS__)) override { call(calls::name{DDPM_OP_ARGS(__VA_ARGS__)}); }
#include "ddpm/ops.def"

 private:
  struct Range {
    const char* p;
    size_t bytes;
    bool meets(const char* q, size_t n) const { return p && q && bytes && n && p < q + n && q < p + bytes; }
  };
  struct Region {
    std::vector<std::function<void()>> calls;
    std::vector<Range> reads, writes;
  };

  template <typename Call>
  void call(const Call& c) {
    if (open_) {
      if (!side_region_op(Call::name))
        throw Error(std::string("DeferringBackend: ") + Call::name + " may not be called in a side region");
      Region& r = held_.back();
      for_each_tensor(c, [&](const char* p, size_t bytes, bool written) {
        (written ? r.writes : r.reads).push_back(Range{p, bytes});
      });
      r.calls.push_back([this, c] { c.run(in_); });
      ++held_ops;
      return;
    }
    for_each_tensor(c, [&](const char* p, size_t bytes, bool written) { meet(p, bytes, written); });
    if (!held_.empty()) ++overtaken;
    c.run(in_);
  }

  template <typename Call, typename Fn>
  void for_each_tensor(const Call& c, Fn fn) {
    c.for_each_arg([&](const OpArg& a, const auto& value) {
      if constexpr (std::is_pointer_v<std::decay_t<decltype(value)>>) {
        if (!a.spec.tensor() || value == nullptr) return;
        const size_t elem = a.spec.activation ? in_.activation_bytes(1) : a.spec.elem == ArgSpec::Elem::kU8 ? 1 : 4;
        fn(reinterpret_cast<const char*>(value), a.shape.elements * elem, a.spec.written());
      }
    });
  }

  // A call outside the regions touches [p, p + bytes): the newest held region
  // it meets runs, with every region held before it (one stream, in order).
  void meet(const void* pv, size_t bytes, bool written) {
    const char* p = static_cast<const char*>(pv);
    for (size_t i = held_.size(); i-- > 0;) {
      const Region& r = held_[i];
      bool hit = false;
      for (const Range& w : r.writes) hit = hit || w.meets(p, bytes);
      if (written)
        for (const Range& rd : r.reads) hit = hit || rd.meets(p, bytes);
      if (hit) {
        ++forced;
        run_through(i + 1);
        return;
      }
    }
  }
  void run_through(size_t count) {
    // A region held open (side_begin without its side_end yet) never runs early.
    if (open_ && count == held_.size()) --count;
    std::vector<Region> now(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(count));
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(count));
    for (Region& r : now)
      for (auto& f : r.calls) f();
  }
  void run_all() {
    if (open_) throw Error("DeferringBackend: a call that is not an op inside a side region");
    run_through(held_.size());
  }

  Backend& in_;
  bool open_ = false;
  std::vector<Region> held_;
};

}  // namespace testing
}  // namespace ddpm
