// The CPU backend in precision bf16 (convolutions on bf16 operands with
// float32 sums) against float32, on whole training runs: a small UNet trained
// from the same initialisation on the same synthetic batches, timesteps and
// noise in both precisions. bf16 needs AVX512_BF16; elsewhere these tests
// print why they skip (the bf16 GEMM itself is checked on every CPU by
// test_conv through its portable emulation).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cpu_backend.h"
#include "ddpm/backend.h"
#include "ddpm/unet.h"
#include "gemm.h"
#include "synthetic_images.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;

namespace {

bool skip_without_bf16() {
  if (cpu::gemm_cpu_has_bf16()) return false;
  std::printf("    (skipped: this CPU has no AVX512_BF16, so the CPU backend refuses bf16)\n");
  return true;
}

UNetConfig small_config() {
  UNetConfig c;
  c.in_channels = 3;
  c.height = 16;
  c.width = 16;
  c.base_width = 8;
  c.depth = 2;
  c.time_dim = 16;
  c.timesteps = 100;
  return c;
}

// The per-step losses of `steps` training steps of the small UNet in `precision`,
// on `threads` workers, over 8 batches of synthetic images.
std::vector<float> loss_curve(Precision precision, int steps, int threads) {
  const UNetConfig cfg = small_config();
  const int B = 16, K = 128;
  const std::vector<uint8_t> data = synthetic_images(K, cfg.in_channels, cfg.height, cfg.width, 7);
  const size_t per = static_cast<size_t>(cfg.in_channels) * cfg.height * cfg.width;
  std::unique_ptr<Backend> be(cpu::create_backend(threads, precision));
  UNet net(*be, cfg, B);
  net.init(11);
  AdamParams hp;
  hp.lr = 1e-3f;
  std::mt19937 gen(5);
  std::vector<uint8_t> flips(B);
  for (int s = 0; s < steps; ++s) {
    for (auto& f : flips) f = static_cast<uint8_t>(gen() & 1);
    net.train_step(data.data() + static_cast<size_t>((s * B) % K) * per, flips.data(), B, hp, 99, s);
  }
  std::vector<float> curve(steps);
  net.read_losses(curve.data(), 0, steps);
  return curve;
}

}  // namespace

// 300 steps: the mean loss of every 30-step window in bf16 stays within 1% of
// float32's (measured on the Zen 5 development machine: at most 0.09%; both
// runs see the same batches, timesteps and noise, so the difference is the
// effect of bf16 alone, not the loss's spread over them), and both curves
// fall.
TEST(bf16_loss_curve_follows_float32) {
  if (skip_without_bf16()) return;
  constexpr int kSteps = 300, kWindow = 30;
  constexpr double kMaxWindowRel = 0.01;
  const std::vector<float> f32 = loss_curve(Precision::kFp32, kSteps, 2);
  const std::vector<float> b16 = loss_curve(Precision::kBf16, kSteps, 2);
  double worst = 0, first[2] = {0, 0}, last[2] = {0, 0};
  std::printf("    steps        fp32 loss  bf16 loss  rel diff\n");
  for (int w0 = 0; w0 < kSteps; w0 += kWindow) {
    double m[2] = {0, 0};
    for (int i = w0; i < w0 + kWindow; ++i) {
      m[0] += f32[i] / kWindow;
      m[1] += b16[i] / kWindow;
    }
    const double rel = std::fabs(m[1] - m[0]) / m[0];
    worst = std::max(worst, rel);
    for (int r = 0; r < 2; ++r) {
      if (w0 == 0) first[r] = m[r];
      last[r] = m[r];
    }
    std::printf("    [%3d,%3d)  %.5f    %.5f    %.2f%%\n", w0, w0 + kWindow, m[0], m[1], 100 * rel);
  }
  CHECK_MSG(std::isfinite(last[0]) && std::isfinite(last[1]), "losses are finite");
  CHECK_MSG(worst <= kMaxWindowRel, "worst window differs by " + std::to_string(100 * worst) + "% (allowed " +
                                        std::to_string(100 * kMaxWindowRel) + "%)");
  CHECK_MSG(last[0] < 0.8 * first[0] && last[1] < 0.8 * first[1], "both curves fall by 20% or more");
  // bf16 really changes the numbers (the rounding is in effect).
  CHECK(f32[kSteps - 1] != b16[kSteps - 1]);
}

// bf16 training is as reproducible as float32: the same bits for any thread
// count.
TEST(bf16_training_bit_identical_across_thread_counts) {
  if (skip_without_bf16()) return;
  const std::vector<float> one = loss_curve(Precision::kBf16, 20, 1);
  const std::vector<float> two = loss_curve(Precision::kBf16, 20, 2);
  CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
}

TEST_MAIN()
