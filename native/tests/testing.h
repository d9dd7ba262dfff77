// A minimal test harness for the C++ tests: TEST(name) { ... } registers a
// test; CHECK(cond) and CHECK_CLOSE(...) record failures and go on. Each test
// binary prints one line per test and "N passed, M failed" last, and exits
// non-zero on any failure. Run one test with: ./test_x name-substring
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace ddpm {
namespace testing {

struct Test {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Test>& registry() {
  static std::vector<Test> tests;
  return tests;
}

inline int& failures() {
  static int f = 0;
  return f;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline void fail(const char* file, int line, const std::string& msg) {
  ++failures();
  if (failures() <= 50) std::printf("    FAIL %s:%d: %s\n", file, line, msg.c_str());
}

// Comparison of an actual against a reference, elementwise:
//   |actual - ref| <= atol + rtol * |ref|
// Reports max-abs and max-relative error and the worst element on failure.
struct CloseReport {
  bool ok = true;
  double max_abs = 0, max_rel = 0;
  size_t worst = 0;
  double worst_actual = 0, worst_ref = 0;
};

template <typename A, typename B>
CloseReport compare(const A* actual, const B* ref, size_t n, double atol, double rtol) {
  CloseReport r;
  double worst_excess = -1;
  for (size_t i = 0; i < n; ++i) {
    double a = actual[i], b = ref[i];
    double d = std::fabs(a - b);
    if (!(d == d)) d = INFINITY;  // NaN never passes
    r.max_abs = std::max(r.max_abs, d);
    if (std::fabs(b) > 0) r.max_rel = std::max(r.max_rel, d / std::fabs(b));
    double excess = d - (atol + rtol * std::fabs(b));
    if (excess > 0 && excess > worst_excess) {
      worst_excess = excess;
      r.ok = false;
      r.worst = i;
      r.worst_actual = a;
      r.worst_ref = b;
    }
  }
  return r;
}

inline std::string describe(const std::string& what, const CloseReport& r, double atol, double rtol) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "%s: max_abs=%.3g max_rel=%.3g (atol=%.1g rtol=%.1g)%s", what.c_str(), r.max_abs,
                r.max_rel, atol, rtol, r.ok ? "" : "");
  std::string s = buf;
  if (!r.ok) {
    std::snprintf(buf, sizeof(buf), "; worst element %zu: got %.9g, expected %.9g", r.worst,
                  r.worst_actual, r.worst_ref);
    s += buf;
  }
  return s;
}

inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(gen);
  return v;
}

// f rounded to the nearest bfloat16 (ties to even), as a float: the values
// precision bf16 stores exactly.
inline float round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;  // inf / nan
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (auto& x : v) x = round_bf16(x);
  return v;
}

inline int run_all(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (auto& t : registry()) {
    if (filter && std::string(t.name).find(filter) == std::string::npos) continue;
    int before = failures();
    try {
      t.fn();
    } catch (const std::exception& e) {
      fail(__FILE__, __LINE__, std::string("exception: ") + e.what());
    }
    bool ok = failures() == before;
    std::printf("%s %s\n", ok ? "[ ok ]" : "[FAIL]", t.name);
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace testing
}  // namespace ddpm

#define DDPM_CAT2(a, b) a##b
#define DDPM_CAT(a, b) DDPM_CAT2(a, b)
#define TEST(name)                                                                     \
  static void DDPM_CAT(test_fn_, name)();                                              \
  static ::ddpm::testing::Registrar DDPM_CAT(test_reg_, name)(#name, DDPM_CAT(test_fn_, name)); \
  static void DDPM_CAT(test_fn_, name)()

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) ::ddpm::testing::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_MSG(cond, msg)                                                 \
  do {                                                                       \
    if (!(cond)) ::ddpm::testing::fail(__FILE__, __LINE__, (msg));           \
  } while (0)

// CHECK_CLOSE(what, actual_ptr, ref_ptr, n, atol, rtol)
#define CHECK_CLOSE(what, actual, ref, n, atol, rtol)                                      \
  do {                                                                                     \
    auto _r = ::ddpm::testing::compare((actual), (ref), (n), (atol), (rtol));              \
    if (!_r.ok) ::ddpm::testing::fail(__FILE__, __LINE__, ::ddpm::testing::describe((what), _r, (atol), (rtol))); \
  } while (0)

#define CHECK_THROWS(expr, substring)                                                         \
  do {                                                                                        \
    bool _threw = false;                                                                      \
    try {                                                                                     \
      expr;                                                                                   \
    } catch (const std::exception& _e) {                                                      \
      _threw = std::string(_e.what()).find(substring) != std::string::npos;                   \
      if (!_threw) ::ddpm::testing::fail(__FILE__, __LINE__, std::string("wrong message: ") + _e.what()); \
      _threw = true;                                                                          \
    }                                                                                         \
    if (!_threw) ::ddpm::testing::fail(__FILE__, __LINE__, "expected an exception from " #expr); \
  } while (0)

#define TEST_MAIN() \
  int main(int argc, char** argv) { return ::ddpm::testing::run_all(argc, argv); }
