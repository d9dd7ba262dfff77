// The EMA of the weights: the op against PyTorch's ema.lerp_(params, 1 - decay)
// (golden/ema.safetensors, scripts/make_feature_goldens.py) and a double-precision
// formula, the warm-up decay, and the UNet's training step with an EMA: the EMA
// follows Adam, never changes the training itself, and is bit-identical across
// runs and thread counts.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/unet.h"
#include "safetensors.h"
#include "fixtures.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;
using Vec = std::vector<float>;

namespace {

std::vector<uint8_t> pixels(int n, int per, int salt) {
  std::vector<uint8_t> px(size_t(n) * per);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 131 + 7 * salt) % 256);
  return px;
}

}  // namespace

TEST(ema_warmup_decay) {
  CHECK(ema_decay_at(0.9999, 0) == 0.1);
  CHECK(std::fabs(ema_decay_at(0.9999, 10) - 11.0 / 20.0) < 1e-15);
  CHECK(ema_decay_at(0.999, 100000) == 0.999);
  CHECK(ema_decay_at(0.0, 5) == 0.0);
  CHECK_THROWS(ema_decay_at(1.0, 0), "decay");
  CHECK_THROWS(ema_decay_at(0.5, -1), "update");
  // diffusers' use_ema_warmup (inv_gamma 1, power 3/4): 1 - (1 + u)^-0.75, capped at the decay.
  CHECK(ema_decay_at(0.9999, 0, 0.75) == 0.0);
  CHECK(std::fabs(ema_decay_at(0.9999, 9, 0.75) - (1 - std::pow(10.0, -0.75))) < 1e-15);
  CHECK(ema_decay_at(0.9999, 100000000, 0.75) == 0.9999);
  CHECK_THROWS(ema_decay_at(0.9, 3, -1.0), "power");
  CHECK(ema_weight(0.75) == 0.25f);
  CHECK_THROWS(ema_weight(-0.1), "ema_update: decay");
}

// torch's lerp_ in float32; ours is the same two-sided formula, so the only
// difference is FMA contraction: at most an ulp or two of |ema|.
TEST(ema_update_matches_torch_golden) {
  SafeTensors g("golden/ema.safetensors");
  auto be = cpu();
  for (int c = 0; c < 3; ++c) {
    const std::string p = "case" + std::to_string(c) + ".";
    const int64_t first = g.at(p + "meta").ints[0];
    const int K = static_cast<int>(g.at(p + "meta").ints[1]);
    const double D = double(g.at(p + "decay_ppm").ints[0]) / 1e6;  // the script's Python float, exactly
    Vec ema = g.at(p + "ema0").f32;
    const Vec& params = g.at(p + "params").f32;
    const size_t n = ema.size();
    for (int k = 0; k < K; ++k) {
      std::vector<double> ref(n);
      const double d = ema_decay_at(D, first + k);
      const double w = 1.0 - d;
      for (size_t i = 0; i < n; ++i) ref[i] = ema[i] + w * (double(params[k * n + i]) - ema[i]);
      be->ema_update(ema.data(), params.data() + k * n, n, d);
      const Vec& torch_ema = g.at(p + "ema" + std::to_string(k + 1)).f32;
      CHECK_CLOSE(p + "ema vs torch after update " + std::to_string(k), ema.data(), torch_ema.data(), n, 1e-7, 1e-6);
      // Against double precision from the same start: one float rounding of w and of the result.
      CHECK_CLOSE(p + "ema vs double formula " + std::to_string(k), ema.data(), ref.data(), n, 1e-6, 1e-6);
    }
  }
}

TEST(ema_update_edge_decays) {
  auto be = cpu();
  Vec ema = random_vector(1000, 1), p = random_vector(1000, 2);
  Vec e0 = ema;
  be->ema_update(ema.data(), p.data(), ema.size(), 1.0);  // keep the average
  CHECK(std::memcmp(ema.data(), e0.data(), ema.size() * 4) == 0);
  be->ema_update(ema.data(), p.data(), ema.size(), 0.0);  // take the parameters
  CHECK(std::memcmp(ema.data(), p.data(), ema.size() * 4) == 0);
  CHECK_THROWS(be->ema_update(ema.data(), p.data(), ema.size(), 1.5), "decay");
}

// adam_ema_update is adam_update then ema_update, bit for bit: both lerp
// branches, Adam and AdamW, a size that is not a whole number of chunks.
TEST(adam_ema_update_is_adam_then_ema) {
  auto be = cpu();
  for (const double decay : {0.9999, 0.3, 0.0, 1.0}) {
    for (const bool adamw : {false, true}) {
      const size_t n = 70001;
      Vec p = random_vector(n, 3), g = random_vector(n, 4), m = random_vector(n, 5), v = random_vector(n, 6),
          e = random_vector(n, 7);
      for (float& x : v) x = std::fabs(x);
      AdamParams hp;
      hp.lr = 0.01;
      hp.weight_decay = 0.05;
      hp.decoupled_weight_decay = adamw;
      hp.step = 4;
      Vec p2 = p, m2 = m, v2 = v, e2 = e;
      be->adam_update(p.data(), g.data(), m.data(), v.data(), n, hp);
      be->ema_update(e.data(), p.data(), n, decay);
      be->adam_ema_update(p2.data(), g.data(), m2.data(), v2.data(), e2.data(), n, hp, decay);
      const bool same = std::memcmp(p.data(), p2.data(), n * 4) == 0 && std::memcmp(m.data(), m2.data(), n * 4) == 0 &&
                        std::memcmp(v.data(), v2.data(), n * 4) == 0 && std::memcmp(e.data(), e2.data(), n * 4) == 0;
      CHECK_MSG(same, "decay " + std::to_string(decay) + (adamw ? ", AdamW" : ", Adam"));
    }
  }
  Vec x(8, 1.0f);
  AdamParams hp;
  CHECK_THROWS(be->adam_ema_update(x.data(), x.data(), x.data(), x.data(), x.data(), 8, hp, 1.5), "decay");
}

// With an EMA the parameters train exactly as without one, and the EMA is the
// warmed-up average of the parameters after each Adam step (and of the
// BatchNorm statistics after each forward), starting from them when it was
// turned on.
TEST(train_step_updates_the_ema_after_adam) {
  const UNetConfig c = tiny_config();
  const int n = 3;
  const int per = 3 * 64;
  auto be = cpu();
  UNet a(*be, c, n), b(*be, c, n);
  a.init(5);
  b.init(5);
  CHECK(!a.has_ema());
  CHECK_THROWS(a.get_ema_params(nullptr), "no EMA");
  CHECK_THROWS(a.swap_ema(), "no EMA");
  CHECK_THROWS(a.set_ema(1.0), "decay");
  a.set_ema(0.95);
  CHECK(a.has_ema() && a.ema_decay() == 0.95);
  AdamParams hp;
  hp.lr = 1e-2;
  Vec ema(b.num_params()), p(b.num_params()), ema_stats(b.num_buffers()), stats(b.num_buffers());
  b.get_params(ema.data());
  b.get_buffers(ema_stats.data());
  for (int64_t s = 0; s < 5; ++s) {
    auto px = pixels(n, per, int(s));
    a.train_step(px.data(), nullptr, n, hp, 11, s);
    b.train_step(px.data(), nullptr, n, hp, 11, s);
    b.get_params(p.data());
    b.get_buffers(stats.data());
    be->ema_update(ema.data(), p.data(), p.size(), ema_decay_at(0.95, s));
    be->ema_update(ema_stats.data(), stats.data(), stats.size(), ema_decay_at(0.95, s));
  }
  Vec pa(a.num_params()), ea(a.num_params()), ba(a.num_buffers()), eb(a.num_buffers());
  a.get_params(pa.data());
  a.get_ema_params(ea.data());
  a.get_buffers(ba.data());
  a.get_ema_buffers(eb.data());
  CHECK(std::memcmp(pa.data(), p.data(), p.size() * 4) == 0);
  CHECK(std::memcmp(ea.data(), ema.data(), ema.size() * 4) == 0);
  CHECK(std::memcmp(ba.data(), stats.data(), stats.size() * 4) == 0);
  CHECK(std::memcmp(eb.data(), ema_stats.data(), eb.size() * 4) == 0);
  CHECK(std::memcmp(eb.data(), ba.data(), eb.size() * 4) != 0);
  bool moved = false, differs = false;
  for (size_t i = 0; i < p.size(); ++i) {
    differs = differs || ea[i] != pa[i];
  }
  Vec p0(a.num_params());
  UNet fresh(*be, c, 1);
  fresh.init(5);
  fresh.get_params(p0.data());
  for (size_t i = 0; i < p.size(); ++i) moved = moved || ea[i] != p0[i];
  CHECK(moved && differs);
  // swap_ema exchanges the two; twice restores them.
  a.swap_ema();
  Vec s1(a.num_params()), s2(a.num_params());
  a.get_params(s1.data());
  a.get_ema_params(s2.data());
  CHECK(std::memcmp(s1.data(), ea.data(), s1.size() * 4) == 0);
  CHECK(std::memcmp(s2.data(), pa.data(), s2.size() * 4) == 0);
  Vec t1(a.num_buffers()), t2(a.num_buffers());
  a.get_buffers(t1.data());
  a.get_ema_buffers(t2.data());
  CHECK(std::memcmp(t1.data(), eb.data(), t1.size() * 4) == 0);
  CHECK(std::memcmp(t2.data(), ba.data(), t2.size() * 4) == 0);
  a.swap_ema();
  a.get_params(s1.data());
  CHECK(std::memcmp(s1.data(), pa.data(), s1.size() * 4) == 0);
  // Decay 0 stops updating it.
  a.set_ema(0.0);
  auto px = pixels(n, per, 9);
  a.train_step(px.data(), nullptr, n, hp, 11, 5);
  a.get_ema_params(s2.data());
  CHECK(std::memcmp(s2.data(), ea.data(), s2.size() * 4) == 0);
  // init restarts it at the new parameters; set_ema_params restores a saved one.
  a.init(6);
  a.get_params(s1.data());
  a.get_ema_params(s2.data());
  CHECK(std::memcmp(s1.data(), s2.data(), s1.size() * 4) == 0);
  a.get_buffers(t1.data());
  a.get_ema_buffers(t2.data());
  CHECK(std::memcmp(t1.data(), t2.data(), t1.size() * 4) == 0);
  a.set_ema_params(ea.data());
  a.get_ema_params(s2.data());
  CHECK(std::memcmp(s2.data(), ea.data(), s2.size() * 4) == 0);
}

// With diffusers' power warm-up the first update's decay is 1 - 1^-P = 0: the
// EMA becomes the weights exactly; later ones follow ema_decay_at(D, u, P).
TEST(train_step_follows_the_power_warmup) {
  const UNetConfig c = tiny_config();
  const int n = 3, per = 3 * 64;
  auto be = cpu();
  UNet a(*be, c, n), b(*be, c, n);
  a.init(5);
  b.init(5);
  a.set_ema(0.99);
  a.set_ema_power(0.75);
  CHECK_THROWS(a.set_ema_power(-1.0), "power");
  AdamParams hp;
  hp.lr = 1e-2;
  Vec ema(b.num_params()), p(b.num_params()), ea(a.num_params());
  b.get_params(ema.data());
  for (int64_t s = 0; s < 3; ++s) {
    auto px = pixels(n, per, int(s));
    a.train_step(px.data(), nullptr, n, hp, 11, s);
    b.train_step(px.data(), nullptr, n, hp, 11, s);
    b.get_params(p.data());
    be->ema_update(ema.data(), p.data(), p.size(), ema_decay_at(0.99, s, 0.75));
    if (s == 0) {
      a.get_ema_params(ea.data());
      CHECK(std::memcmp(ea.data(), p.data(), p.size() * 4) == 0);
    }
  }
  a.get_ema_params(ea.data());
  CHECK(std::memcmp(ea.data(), ema.data(), ema.size() * 4) == 0);
}

TEST(ema_training_is_bit_identical_across_runs_and_thread_counts) {
  const UNetConfig c = tiny_config();
  const int n = 4;
  AdamParams hp;
  hp.lr = 1e-3;
  auto run = [&](int threads) {
    auto be = cpu(threads);
    UNet net(*be, c, n);
    net.init(99);
    net.set_ema(0.9999);
    for (int64_t s = 0; s < 3; ++s) {
      auto px = pixels(n, 3 * 64, int(s));
      net.train_step(px.data(), nullptr, n, hp, 1234, s);
    }
    Vec e(net.num_params());
    net.get_ema_params(e.data());
    return e;
  };
  Vec a = run(2), b = run(2), c1 = run(1);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  CHECK(std::memcmp(a.data(), c1.data(), a.size() * 4) == 0);
}

TEST_MAIN()
