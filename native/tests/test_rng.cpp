// The random numbers' arithmetic (ddpm/rng.h, cpu/gaussian.cpp): the
// Box-Muller transform's own logarithm, sine and cosine against long double
// for every input they can get, and the CPU's vector kernels against the
// scalar code, bit for bit, on every instruction set this CPU has. (The
// distribution and the counter-based indexing are test_ops' checks.)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ddpm/rng.h"
#include "gaussian.h"
#include "gemm.h"
#include "testing.h"

using namespace ddpm;

// The Box-Muller transform's own logarithm, sine and cosine (rng.h: the same
// bits on every platform) against long double, for every u that to_unit can
// produce (2^24 values, so exhaustive): within 0.83 ulp (log) and 1.1 ulp
// (sin, cos), the reference reduced by the same exact quarter turn.
TEST(box_muller_math_is_accurate_for_every_uniform) {
  auto ulp = [](long double v) {
    const float f = std::fabs(static_cast<float>(v));
    return f == 0.0f ? 1.4e-45L : static_cast<long double>(std::nextafter(f, INFINITY) - f);
  };
  const long double two_pi = 6.283185307179586476925286766559005768L;
  long double worst_log = 0, worst_sin = 0, worst_cos = 0;
  for (uint32_t k = 0; k < (1u << 24); k += 1) {
    const float u = rng::to_unit(k << 8);
    const long double ul = u;
    const long double ref_log = std::log(ul);
    worst_log = std::max(worst_log, std::fabs(rng::log_unit(u) - ref_log) / ulp(ref_log));
    float s, c;
    rng::sincos_turn(u, s, c);
    const long double q = std::nearbyint(4 * ul), r = ul - q / 4;
    const long double sr = std::sin(two_pi * r), cr = std::cos(two_pi * r);
    const int quadrant = static_cast<int>(q) & 3;
    const long double ref_s = quadrant == 0 ? sr : quadrant == 1 ? cr : quadrant == 2 ? -sr : -cr;
    const long double ref_c = quadrant == 0 ? cr : quadrant == 1 ? -sr : quadrant == 2 ? -cr : sr;
    worst_sin = std::max(worst_sin, std::fabs(s - ref_s) / ulp(ref_s));
    worst_cos = std::max(worst_cos, std::fabs(c - ref_c) / ulp(ref_c));
  }
  CHECK_MSG(worst_log <= 0.83, "log_unit error " + std::to_string(static_cast<double>(worst_log)) + " ulp");
  CHECK_MSG(worst_sin <= 1.1, "sincos_turn sine error " + std::to_string(static_cast<double>(worst_sin)) + " ulp");
  CHECK_MSG(worst_cos <= 1.1, "sincos_turn cosine error " + std::to_string(static_cast<double>(worst_cos)) + " ulp");
  // The edges: u = 1 (to_unit's top value) gives log 0 and a whole turn.
  CHECK(rng::to_unit(0xFFFFFFFFu) == 1.0f && rng::log_unit(1.0f) == 0.0f);
  float s1, c1;
  rng::sincos_turn(1.0f, s1, c1);
  CHECK(s1 == 0.0f && c1 == 1.0f);
}

// The vector kernels (16 Philox blocks a lane each on AVX-512, 8 on AVX2)
// give gaussian_at's bits, at every alignment and length, across the carry
// into the counter's high word, under each instruction set.
TEST(fill_gaussians_matches_scalar_on_every_isa) {
  const cpu::GemmIsa best = cpu::gemm_cpu_isa();
  for (cpu::GemmIsa isa : {cpu::GemmIsa::kGeneric, cpu::GemmIsa::kAvx2, cpu::GemmIsa::kAvx512}) {
    if (isa > best) continue;
    cpu::gemm_limit_isa(isa);
    for (uint64_t first : {0ull, 1ull, 2ull, 3ull, 4ull * 0xFFFFFFF0ull + 1, (1ull << 40) + 6}) {
      for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{31}, int64_t{64}, int64_t{97}, int64_t{1000}}) {
        for (uint64_t seed : {uint64_t{42}, uint64_t{0xDEADBEEF12345678ull}}) {
          std::vector<float> z(n);
          cpu::fill_gaussians(seed, 7, first, n, z.data());
          int64_t bad = -1;
          for (int64_t i = 0; i < n && bad < 0; ++i) {
            const float ref = rng::gaussian_at(seed, 7, first + i);
            if (std::memcmp(&z[i], &ref, sizeof ref) != 0) bad = i;
          }
          CHECK_MSG(bad < 0, std::string("fill_gaussians on ") + cpu::gemm_isa_name(isa) + " at first " +
                                 std::to_string(first) + ", n " + std::to_string(n) + ": element " + std::to_string(bad));
        }
      }
    }
  }
  cpu::gemm_limit_isa(cpu::GemmIsa::kAvx512);
}

TEST_MAIN()
