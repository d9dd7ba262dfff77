// Side regions (Backend::side_begin): the UNet's time MLPs run in regions that
// a backend may overlap with the calls after them (the CUDA backend's second
// stream). On the CPU the regions are run as late as such a stream could run
// them (DeferringBackend, deferring_backend.h): training steps, the eval
// forward and sampling, unconditional and class-conditional, must come out
// bit for bit as on the CPU backend alone. The harness itself is checked on
// hand-made hazards: a held region runs before a later op overwrites its
// input or reads its output, and only region ops may be called in one.
#include <cstring>
#include <memory>
#include <vector>

#include "cpu_backend.h"
#include "ddpm/backend.h"
#include "ddpm/unet.h"
#include "deferring_backend.h"
#include "fixtures.h"
#include "gemm.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;
using Vec = std::vector<float>;

namespace {

bool same(const Vec& a, const Vec& b) { return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0; }

UNetConfig conditional_config() {
  UNetConfig c = tiny_config();
  c.num_classes = 4;
  return c;
}

// What a model computes on `be`: three training steps (losses, parameters,
// Adam state, BatchNorm statistics, the last gradients), then an eval forward
// and four sampling steps of the trained model.
struct Results {
  Vec losses, params, adam, buffers, grads, eval, samples;
};

Results run(Backend& be, const UNetConfig& c, bool flips) {
  const int n = 4;
  UNet net(be, c, 2 * n);  // room for guided sampling's batch of 2n
  net.init(7);
  const int64_t per = net.sample_size();
  AdamParams hp;
  hp.lr = 1e-3;
  std::vector<uint8_t> px(size_t(n) * per), fl = {1, 0, 0, 1};
  std::vector<int32_t> labels = {0, 3, 1, 2};
  for (int64_t s = 0; s < 3; ++s) {
    for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 131 + 17 * s) % 256);
    net.train_step(px.data(), flips ? fl.data() : nullptr, c.num_classes > 0 ? labels.data() : nullptr, n, hp, 11,
                   s);
  }
  Results r;
  r.losses.resize(3);
  net.read_losses(r.losses.data(), 0, 3);
  r.params.resize(net.num_params());
  net.get_params(r.params.data());
  r.adam.resize(2 * net.num_params());
  net.get_adam_state(r.adam.data());
  r.buffers.resize(net.num_buffers());
  net.get_buffers(r.buffers.data());
  r.grads.resize(net.num_params());
  net.get_grads(r.grads.data());
  Vec x(size_t(n) * per);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i * 29 % 97) - 48) / 40.0f;
  std::vector<int32_t> t = {3, 49, 0, 27};
  r.eval.resize(x.size());
  net.predict_noise_host(x.data(), t.data(), c.num_classes > 0 ? labels.data() : nullptr, r.eval.data(), n);
  net.sample_begin(n, 5, 0);
  if (c.num_classes > 0) net.sample_set_labels(labels.data(), 2.0f);  // guided: one batch of 2n
  for (int step = c.timesteps - 1; step >= c.timesteps - 4; --step) net.sample_step(step);
  r.samples.resize(x.size());
  net.sample_read(r.samples.data(), false);
  return r;
}

void check_same(const Results& a, const Results& b, const char* what) {
  CHECK_MSG(same(a.losses, b.losses), std::string(what) + ": losses");
  CHECK_MSG(same(a.params, b.params), std::string(what) + ": parameters");
  CHECK_MSG(same(a.adam, b.adam), std::string(what) + ": Adam state");
  CHECK_MSG(same(a.buffers, b.buffers), std::string(what) + ": BatchNorm statistics");
  CHECK_MSG(same(a.grads, b.grads), std::string(what) + ": gradients");
  CHECK_MSG(same(a.eval, b.eval), std::string(what) + ": eval forward");
  CHECK_MSG(same(a.samples, b.samples), std::string(what) + ": samples");
}

void regions_change_nothing(Backend& cpu_be, const UNetConfig& c, bool flips, const char* what) {
  const Results plain = run(cpu_be, c, flips);
  DeferringBackend deferring(cpu_be);
  const Results late = run(deferring, c, flips);
  check_same(plain, late, what);
  // The regions were there and were overtaken: 2D time MLPs of a forward,
  // 2D + 1 of a backward, each a region.
  const int D = c.depth;
  CHECK_MSG(deferring.regions >= 3 * (2 * D + (2 * D + 1)), std::string(what) + ": regions " + std::to_string(deferring.regions));
  CHECK_MSG(deferring.held_ops > 0 && deferring.overtaken > 0,
            std::string(what) + ": held " + std::to_string(deferring.held_ops) + ", overtaken " +
                std::to_string(deferring.overtaken));
  CHECK_MSG(deferring.forced > 0, std::string(what) + ": no region was forced by a later op");
}

}  // namespace

TEST(unconditional_model_is_unchanged_by_late_regions) {
  auto be = testing::cpu();
  regions_change_nothing(*be, tiny_config(), true, "unconditional");
}

TEST(conditional_model_is_unchanged_by_late_regions) {
  auto be = testing::cpu();
  regions_change_nothing(*be, conditional_config(), false, "conditional");
}

TEST(bf16_model_is_unchanged_by_late_regions) {
  if (!ddpm::cpu::gemm_cpu_has_bf16()) {
    std::printf("    (skipped: this CPU has no AVX512_BF16, so the CPU backend refuses bf16)\n");
    return;
  }
  std::unique_ptr<Backend> be(ddpm::cpu::create_backend(2, Precision::kBf16));
  regions_change_nothing(*be, tiny_config(), false, "bf16");
}

// The harness: a held region runs before a later op overwrites what it reads
// or reads what it writes; an op that meets neither overtakes it.
TEST(held_regions_run_before_the_ops_that_meet_them) {
  auto be = testing::cpu();
  DeferringBackend d(*be);
  const int N = 2, in = 3, out = 2;
  Vec x = {1, 2, 3, 4, 5, 6}, w = {1, 0, 0, 0, 1, 0}, y(N * out, 0.0f), z(N * out, 0.0f), other(4, 1.0f);
  // The region reads x; a later op overwrites x: the region sees the old x.
  d.side_begin();
  d.linear_forward(x.data(), w.data(), nullptr, y.data(), N, in, out);
  d.side_end();
  CHECK(y[0] == 0.0f);  // held
  d.silu_forward(other.data(), other.data(), other.size());  // meets nothing: overtakes it
  CHECK(y[0] == 0.0f && d.overtaken == 1);
  d.silu_forward(z.data(), x.data(), 2);  // writes x[0..2): the region runs first
  CHECK(y[0] == 1.0f && y[1] == 2.0f && y[2] == 4.0f && y[3] == 5.0f);
  CHECK(d.forced == 1);
  // The region writes y; a later op reads y: it sees the region's y.
  d.side_begin();
  d.silu_forward(x.data() + 3, y.data(), 1);  // y[0] = silu(4)
  d.side_end();
  d.silu_backward(y.data(), z.data(), z.data(), 1);  // reads y[0]
  CHECK(d.forced == 2);
  CHECK(y[0] > 3.9f && y[0] < 4.0f);
  // Only region ops in a region; regions do not nest; non-ops wait for all.
  d.side_begin();
  CHECK_THROWS(d.add_channel_backward(x.data(), z.data(), 1, 1, 1), "may not be called in a side region");
  CHECK_THROWS(d.side_begin(), "inside a side region");
  d.side_end();
  d.side_begin();
  d.silu_forward(x.data(), y.data(), 1);  // x[0] = silu(0) = 0 since the third op
  d.side_end();
  CHECK(y[0] > 3.9f);
  d.synchronize();
  CHECK(y[0] == 0.0f);
  CHECK(side_region_op("linear_backward") && side_region_op("embedding_gather"));
  CHECK(!side_region_op("conv2d_backward") && !side_region_op("batchnorm_relu_forward"));
}

TEST_MAIN()
