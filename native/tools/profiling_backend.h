// A Backend decorator that times every op (tools only: unet_bench, cuda_check).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/op_calls.h"

namespace ddpm {
namespace tools {

// Forwards every op to `inner` and adds its wall time, FLOPs and bytes (from
// the op table, op_calls.h) to a per-(op, arguments) table. The CPU backend is
// synchronous, so wall time is the op's time; for an asynchronous backend
// (CUDA) set sync_each, so every timed op waits for the device (the launch
// latency then counts too: a profile, not a benchmark). Step brackets and
// side regions are not forwarded: every op runs eagerly and in order, and is
// timed alone.
class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : in_(inner) {}

  struct Entry {
    double seconds = 0;
    int64_t calls = 0;
    double flops = 0;
    double bytes = 0;  // at the least (op_bytes)
  };
  std::map<std::string, Entry> table;
  bool enabled = false;
  bool sync_each = false;

  std::string name() const override { return in_.name(); }
  std::string device_name() const override { return in_.device_name(); }
  int threads() const override { return in_.threads(); }
  void* alloc(size_t bytes) override { return in_.alloc(bytes); }
  void free(void* p) override { in_.free(p); }
  void upload(void* d, const void* s, size_t b) override { timed("upload", "", 0, 0, [&] { in_.upload(d, s, b); }); }
  void download(void* d, const void* s, size_t b) override { timed("download", "", 0, 0, [&] { in_.download(d, s, b); }); }
  void copy(void* d, const void* s, size_t b) override { timed("copy", "", 0, 0, [&] { in_.copy(d, s, b); }); }
  void fill(float* d, float v, size_t n) override { timed("fill", "", 0, 0, [&] { in_.fill(d, v, n); }); }
  void synchronize() override { in_.synchronize(); }
  void* alloc_host(size_t bytes) override { return in_.alloc_host(bytes); }
  void free_host(void* p) override { in_.free_host(p); }
  void download_async(void* h, const void* s, size_t bytes) override { in_.download_async(h, s, bytes); }
  void fence_record() override { in_.fence_record(); }
  void fence_wait() override { in_.fence_wait(); }
  ActivationFormat activation_format() const override { return in_.activation_format(); }
  size_t activation_bytes(size_t n) const override { return in_.activation_bytes(n); }
  void to_activation(const float* s, float* d, int N, int C, int HW) override {
    timed("to_activation", plane_shape(N, C, HW), 0, 0, [&] { in_.to_activation(s, d, N, C, HW); });
  }
  void from_activation(const float* s, float* d, int N, int C, int HW) override {
    timed("from_activation", plane_shape(N, C, HW), 0, 0, [&] { in_.from_activation(s, d, N, C, HW); });
  }

  // The ops: one forwarder per entry of the op table, timed under the op's
  // name and its integer arguments, with its FLOPs and bytes from the table.
#define DDPM_OP(kind, name, flops, ...) \
  void name(DDPM_OP_PARAMS(__VA_ARGS__)) override { timed(calls::name{DDPM_OP_ARGS(__VA_ARGS__)}); }
#include "ddpm/ops.def"

  void print(const char* title, double total_seconds) const {
    std::vector<std::pair<std::string, Entry>> rows(table.begin(), table.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double sum = 0;
    std::map<std::string, double> by_op;
    for (const auto& r : rows) {
      sum += r.second.seconds;
      by_op[r.first.substr(0, r.first.find(' '))] += r.second.seconds;
    }
    std::fprintf(stderr, "\n== %s: %.1f ms wall, %.1f ms in ops ==\n", title, total_seconds * 1e3, sum * 1e3);
    std::vector<std::pair<std::string, double>> ops(by_op.begin(), by_op.end());
    std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::fprintf(stderr, "%-28s %10s %6s\n", "op", "ms", "%");
    for (const auto& o : ops)
      std::fprintf(stderr, "%-28s %10.2f %6.1f\n", o.first.c_str(), o.second * 1e3, 100 * o.second / sum);
    std::fprintf(stderr, "\n%-64s %6s %9s %8s %7s %7s\n", "op and arguments", "calls", "ms", "GFLOP/s", "GB/s", "%");
    for (const auto& r : rows) {
      if (r.second.seconds < 0.002 * sum) continue;
      const double gflops = r.second.flops / r.second.seconds * 1e-9, gbs = r.second.bytes / r.second.seconds * 1e-9;
      std::fprintf(stderr, "%-64s %6lld %9.2f %8.1f %7.1f %7.1f\n", r.first.c_str(),
                   static_cast<long long>(r.second.calls), r.second.seconds * 1e3, gflops, gbs,
                   100 * r.second.seconds / sum);
    }
  }

 private:
  template <typename Call>
  void timed(const Call& call) {
    if (!enabled) {
      call.run(in_);
      return;
    }
    timed(Call::name, op_shape(call), call.flops(), op_bytes(call, in_.activation_bytes(1)),
          [&] { call.run(in_); });
  }
  template <typename Fn>
  void timed(const char* op, const std::string& shape, double flops, double bytes, Fn fn) {
    if (!enabled) {
      fn();
      return;
    }
    if (sync_each) in_.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    if (sync_each) in_.synchronize();
    Entry& e = table[shape.empty() ? std::string(op) : std::string(op) + " " + shape];
    e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    e.calls += 1;
    e.flops += flops;
    e.bytes += bytes;
  }
  static std::string plane_shape(int N, int C, int HW) {
    return "N=" + std::to_string(N) + " C=" + std::to_string(C) + " HW=" + std::to_string(HW);
  }

  Backend& in_;
};

}  // namespace tools
}  // namespace ddpm
