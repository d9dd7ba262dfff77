// The whole UNet on the CPU backend: PyTorch golden file, gradient check,
// the seed's shape check, the parameter table, the training step's plumbing,
// determinism and the sampler's batch-split invariance.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/rng.h"
#include "ddpm/unet.h"
#include "golden_model.h"
#include "gradcheck.h"
#include "safetensors.h"
#include "fixtures.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;
using Vec = std::vector<float>;

namespace {

// Parameters with random BatchNorm affine terms too, so their gradients are exercised.
void randomise(UNet& net, uint32_t seed) {
  net.init(seed);
  Vec p(net.num_params());
  net.get_params(p.data());
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> g(0.5f, 1.5f), b(-0.3f, 0.3f);
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const TensorInfo& t = net.param_tensor(i);
    const bool bn = t.name.find(".conv.1.") != std::string::npos || t.name.find(".conv.4.") != std::string::npos;
    if (!bn) continue;
    const bool weight = t.name.find("weight") != std::string::npos;
    for (int64_t k = 0; k < t.size; ++k) p[t.offset + k] = weight ? g(gen) : b(gen);
  }
  net.set_params(p.data());
}

std::string golden_path() { return "golden/unet_tiny.safetensors"; }

}  // namespace

TEST(seed_parameter_table_matches_pytorch) {
  auto be = cpu();
  UNetConfig c;  // the seed: 3x32x32, base 64, depth 4, time_dim 100, T 1000
  UNet net(*be, c, 1);
  // sum(p.numel() for p in SeedUNet(3).parameters() if p.requires_grad) in PyTorch 2.13
  CHECK(net.num_params() == 33078526);
  CHECK(net.num_buffers() == 11776);  // running_mean + running_var of all 36 BatchNorms
  CHECK(net.param_tensor(0).name == "conv1.conv.0.weight");
  CHECK((net.param_tensor(0).shape == std::vector<int64_t>{64, 3, 3, 3}));
  CHECK(net.param_tensor(net.num_param_tensors() - 1).name == "te4_up.2.bias");
  int64_t off = 0;
  bool contiguous = true;
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    contiguous = contiguous && net.param_tensor(i).offset == off;
    off += net.param_tensor(i).size;
  }
  CHECK(contiguous && off == net.num_params());
  bool found = false;
  for (int i = 0; i < net.num_param_tensors(); ++i)
    if (net.param_tensor(i).name == "up1.up.up_scale.weight") {
      found = true;
      CHECK((net.param_tensor(i).shape == std::vector<int64_t>{1024, 512, 2, 2}));
    }
  CHECK(found);
  UNetConfig gray = c;
  gray.in_channels = 1;
  UNet net1(*be, gray, 1);
  CHECK(net1.num_params() == 33077032);
}

TEST(golden_pytorch_forward_backward) {
  SafeTensors g(golden_path());
  const UNetConfig c = golden_config(g);
  const int n = g.meta_int("batch");
  auto be = cpu();
  UNet net(*be, c, n);
  load_state_dict(net, g);  // with the golden's time table
  // The table PyTorch used is the standard one: ours must agree with it.
  const Vec& table = g.at("time_embed.weight").f32;
  Vec ours(table.size());
  sinusoidal_table(c.timesteps, c.time_dim, ours.data());
  // sin/cos of arguments up to 999 rad: float32 rounding of the argument alone is ~3e-5.
  CHECK_CLOSE("standard sinusoidal table", ours.data(), table.data(), table.size(), 1e-4, 0.0);

  const Vec& x = g.at("input.x").f32;
  const std::vector<int32_t> t = ints32(g, "input.t");
  Vec out(x.size());
  net.forward_host(x.data(), t.data(), out.data(), n, true);
  check_golden_train_step(net, g, out, n);
  Vec after(net.num_buffers());
  net.get_buffers(after.data());
  for (int i = 0; i < net.num_buffer_tensors(); ++i) {
    const TensorInfo& ti = net.buffer_tensor(i);
    CHECK_CLOSE("updated " + ti.name, after.data() + ti.offset, g.at("after." + ti.name).f32.data(), ti.size, 1e-5, 1e-4);
  }
  net.forward_host(x.data(), t.data(), out.data(), n, false);
  CHECK_CLOSE("eval-mode output", out.data(), g.at("output.eval").f32.data(), out.size(), 1e-4, 1e-4);
}

// Directional finite differences per parameter tensor: for a random direction
// d (entries in [-1, 1]) compare grad . d with (L(p + h d) - L(p - h d)) / 2h,
// L = sum(out * R). A wrong gradient in any tensor changes grad . d unless the
// error is orthogonal to a random d.
//
// Why several step sizes: the model is float32 and full of kinks (ReLU,
// max-pool arg-max switches, BatchNorm over as few as 2x2x16 values). Measured
// on this configuration, float32 rounding puts ~1e-5/h of noise on the
// numeric derivative, while every kink the perturbation crosses adds an error
// that shrinks with h. So a tensor passes when, for one of h in {1e-2, 1e-3,
// 1e-4}, |grad . d - numeric| <= 1e-5/h + 1e-2 |numeric|. Two regimes are
// checked: BatchNorm shifts of +3 (ReLUs almost never at a kink: h = 1e-2
// agrees to ~0.1%) and shifts around +1 (many active kinks). Exactness, ReLU
// masks included, is what the PyTorch golden test above checks to 1e-4.
namespace {
void unet_gradient_check(float bn_shift, uint32_t seed) {
  const UNetConfig c = tiny_config();
  const int n = 16;
  auto be = cpu();
  UNet net(*be, c, n);
  net.init(seed);
  Vec p0(net.num_params());
  net.get_params(p0.data());
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> gamma(0.5f, 1.0f), beta(bn_shift - 0.2f, bn_shift + 0.2f);
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const TensorInfo& t = net.param_tensor(i);
    if (t.name.find(".conv.1.") == std::string::npos && t.name.find(".conv.4.") == std::string::npos) continue;
    const bool weight = t.name.find("weight") != std::string::npos;
    for (int64_t k = 0; k < t.size; ++k) p0[t.offset + k] = weight ? gamma(gen) : beta(gen);
  }
  Vec x = random_vector(size_t(n) * c.in_channels * c.height * c.width, seed + 1);
  Vec R = random_vector(x.size(), seed + 2);
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = (i * 17) % c.timesteps;
  Vec out(x.size()), dx(x.size());
  auto loss_at = [&](const Vec& params, const Vec& input) {
    net.set_params(params.data());
    net.forward_host(input.data(), t.data(), out.data(), n, true);
    return dot(out, R);
  };
  loss_at(p0, x);
  net.backward_host(R.data(), dx.data(), n);
  Vec grads(net.num_params());
  net.get_grads(grads.data());
  // Checks one direction; `apply(h, sign)` returns L at the perturbed point.
  auto check = [&](const std::string& what, double analytic, const std::function<double(double)>& numeric_at) {
    std::string tried;
    for (double h : {1e-2, 1e-3, 1e-4}) {
      const double numeric = numeric_at(h);
      if (std::fabs(analytic - numeric) <= 1e-5 / h + 1e-2 * std::fabs(numeric)) return;
      tried += " h=" + std::to_string(h) + ": " + std::to_string(numeric);
    }
    fail(__FILE__, __LINE__, what + " (shift " + std::to_string(bn_shift) + "): grad.d = " + std::to_string(analytic) + ", finite differences" + tried);
  };
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const TensorInfo& ti = net.param_tensor(i);
    Vec d = random_vector(ti.size, 100 + i);
    double analytic = 0;
    for (int64_t k = 0; k < ti.size; ++k) analytic += double(grads[ti.offset + k]) * d[k];
    check(ti.name, analytic, [&](double h) {
      Vec pp = p0, pm = p0;
      for (int64_t k = 0; k < ti.size; ++k) {
        pp[ti.offset + k] += float(h * d[k]);
        pm[ti.offset + k] -= float(h * d[k]);
      }
      return (loss_at(pp, x) - loss_at(pm, x)) / (2 * h);
    });
  }
  Vec d = random_vector(x.size(), 99);
  double analytic = 0;
  for (size_t k = 0; k < x.size(); ++k) analytic += double(dx[k]) * d[k];
  check("input", analytic, [&](double h) {
    Vec xp = x, xm = x;
    for (size_t k = 0; k < x.size(); ++k) {
      xp[k] += float(h * d[k]);
      xm[k] -= float(h * d[k]);
    }
    return (loss_at(p0, xp) - loss_at(p0, xm)) / (2 * h);
  });
}
}  // namespace

TEST(whole_unet_gradient_check_smooth) { unet_gradient_check(3.0f, 7); }
TEST(whole_unet_gradient_check_kinked) { unet_gradient_check(1.0f, 7); }

TEST(seed_shape_check_256) {
  // The notebook's check: batch 3, one channel, 256x256 in, the same shape out
  // (a small base width keeps it fast; depth 4 as the seed).
  UNetConfig c;
  c.in_channels = 1;
  c.height = 256;
  c.width = 256;
  c.base_width = 4;
  c.depth = 4;
  auto be = cpu();
  UNet net(*be, c, 3);
  CHECK(net.sample_size() == 256 * 256);
  Vec x = random_vector(3 * 256 * 256, 11), out(x.size(), NAN);
  std::vector<int32_t> t = {0, 500, 999};
  net.forward_host(x.data(), t.data(), out.data(), 3, true);
  bool finite = true;
  double spread = 0;
  for (float v : out) {
    finite = finite && std::isfinite(v);
    spread = std::max(spread, double(std::fabs(v - out[0])));
  }
  CHECK(finite);
  CHECK(spread > 0);
  net.backward_host(x.data(), nullptr, 3);
}

TEST(odd_sizes_pad_in_the_up_path) {
  // 29x37 at depth 3: 29 -> 14 -> 7 -> 3 and back up 3 -> 6 (pad to 7) -> 14 -> 28 (pad to 29).
  UNetConfig c = tiny_config();
  c.height = 29;
  c.width = 37;
  c.depth = 3;
  auto be = cpu();
  UNet net(*be, c, 2);
  Vec x = random_vector(2 * 3 * 29 * 37, 12), out(x.size()), dx(x.size());
  std::vector<int32_t> t = {1, 2};
  net.forward_host(x.data(), t.data(), out.data(), 2, true);
  net.backward_host(x.data(), dx.data(), 2);
  bool finite = true;
  for (float v : dx) finite = finite && std::isfinite(v);
  CHECK(finite);
}

TEST(config_errors_name_the_field) {
  auto be = cpu();
  UNetConfig c = tiny_config();
  c.depth = 4;  // 8x8 cannot go down 4 times
  CHECK_THROWS(UNet(*be, c, 2), "height");
  c = tiny_config();
  c.base_width = 0;
  CHECK_THROWS(UNet(*be, c, 2), "base_width");
  c = tiny_config();
  c.beta_end = 1.5f;
  CHECK_THROWS(UNet(*be, c, 2), "beta");
  CHECK_THROWS(UNet(*be, tiny_config(), 0), "max_batch");
  UNet net(*be, tiny_config(), 2);
  Vec x(3 * 3 * 64), out(x.size());
  std::vector<int32_t> t = {0, 1, 2};
  CHECK_THROWS(net.forward_host(x.data(), t.data(), out.data(), 3, true), "max_batch");
  t[0] = 50;
  CHECK_THROWS(net.forward_host(x.data(), t.data(), out.data(), 2, true), "timestep 50");
  CHECK_THROWS(net.backward_host(x.data(), nullptr, 1), "training forward");
}

TEST(eval_forward_is_pure_and_train_forward_updates_statistics) {
  auto be = cpu();
  UNet net(*be, tiny_config(), 2);
  randomise(net, 3);
  Vec x = random_vector(2 * 3 * 64, 13), a(x.size()), b(x.size());
  std::vector<int32_t> t = {5, 6};
  Vec s0(net.num_buffers()), s1(net.num_buffers());
  net.get_buffers(s0.data());
  net.forward_host(x.data(), t.data(), a.data(), 2, false);
  net.forward_host(x.data(), t.data(), b.data(), 2, false);
  net.get_buffers(s1.data());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  CHECK(std::memcmp(s0.data(), s1.data(), s0.size() * 4) == 0);
  CHECK(net.bn_batches() == 0);
  net.forward_host(x.data(), t.data(), a.data(), 2, true);
  net.get_buffers(s1.data());
  CHECK(std::memcmp(s0.data(), s1.data(), s0.size() * 4) != 0);
  CHECK(net.bn_batches() == 1);
}

// train_step must equal its documented composition, computed here from the
// public pieces: x0 from pixels (flipped), t and eps from Philox streams
// 4*step and 4*step+1, q-sample, train forward, MSE gradient, backward, Adam.
TEST(train_step_is_the_documented_composition) {
  const UNetConfig c = tiny_config();
  const int n = 3;
  const int64_t per = int64_t(c.in_channels) * c.height * c.width;
  auto be = cpu();
  UNet a(*be, c, n), b(*be, c, n);
  a.init(21);
  b.init(21);
  std::vector<uint8_t> px(n * per);
  std::mt19937 gen(5);
  for (auto& v : px) v = uint8_t(gen() & 255);
  std::vector<uint8_t> flips = {0, 1, 0};
  AdamParams hp;
  hp.lr = 1e-3;
  const uint64_t seed = 77;
  const int64_t step = 5;
  a.train_step(px.data(), flips.data(), n, hp, seed, step);

  Schedule s = Schedule::linear(c.timesteps, c.beta_start, c.beta_end);
  Vec x0(n * per), eps(n * per), xt(n * per);
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = rng::uniform_int_at(seed, 4 * step, i, c.timesteps);
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < c.in_channels; ++ch)
      for (int y = 0; y < c.height; ++y)
        for (int xw = 0; xw < c.width; ++xw) {
          int src = flips[i] ? c.width - 1 - xw : xw;
          int64_t base = (int64_t(i) * c.in_channels + ch) * c.height * c.width + y * c.width;
          x0[base + xw] = float(px[base + src]) / 127.5f - 1.0f;
        }
  for (int64_t k = 0; k < n * per; ++k) eps[k] = rng::gaussian_at(seed, 4 * step + 1, k);
  for (int i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k)
      xt[i * per + k] = s.sqrt_alpha_bar[t[i]] * x0[i * per + k] + s.sqrt_one_minus_alpha_bar[t[i]] * eps[i * per + k];
  Vec out(n * per), dout(n * per);
  b.forward_host(xt.data(), t.data(), out.data(), n, true);
  double loss = 0;
  for (int64_t k = 0; k < n * per; ++k) {
    double d = double(out[k]) - eps[k];
    loss += d * d;
    dout[k] = 2.0f / float(n * per) * (out[k] - eps[k]);
  }
  loss /= double(n * per);
  b.backward_host(dout.data(), nullptr, n);
  Vec p(b.num_params()), g(b.num_params()), mv(2 * b.num_params());
  b.get_params(p.data());
  b.get_grads(g.data());
  b.get_adam_state(mv.data());
  hp.step = 1;
  be->adam_update(p.data(), g.data(), mv.data(), mv.data() + b.num_params(), b.num_params(), hp);

  Vec pa(a.num_params());
  a.get_params(pa.data());
  CHECK_CLOSE("parameters after train_step", pa.data(), p.data(), p.size(), 1e-7, 1e-6);
  float la = 0;
  a.read_losses(&la, step, 1);
  CHECK_CLOSE("loss of the step", &la, &loss, 1, 1e-6, 1e-5);
  CHECK(a.adam_step() == 1 && a.bn_batches() == 1);
  CHECK_THROWS(a.read_losses(&la, step + 1, 1), "not among");
}

TEST(training_is_bit_identical_across_runs_and_thread_counts) {
  const UNetConfig c = tiny_config();
  const int n = 4;
  std::vector<uint8_t> px(size_t(n) * 3 * 64);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 131 + 7) % 256);
  AdamParams hp;
  hp.lr = 1e-3;
  auto run = [&](int threads) {
    auto be = cpu(threads);
    UNet net(*be, c, n);
    net.init(99);
    for (int64_t s = 0; s < 4; ++s) net.train_step(px.data(), nullptr, n, hp, 1234, s);
    Vec p(net.num_params());
    net.get_params(p.data());
    Vec l(4);
    net.read_losses(l.data(), 0, 4);
    p.insert(p.end(), l.begin(), l.end());
    return p;
  };
  Vec a = run(2), b = run(2), c1 = run(1);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  CHECK(std::memcmp(a.data(), c1.data(), a.size() * 4) == 0);
}

// A snapshot holds exactly what the get_* calls return, EMA included; it is
// taken at snapshot_begin (later steps do not change it) and needs the EMA's
// buffer when there is an EMA.
TEST(snapshot_is_the_state_at_snapshot_begin) {
  const UNetConfig c = tiny_config();
  const int n = 4;
  std::vector<uint8_t> px(size_t(n) * 3 * 64);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 29 + 3) % 256);
  AdamParams hp;
  hp.lr = 1e-3;
  auto be = cpu(2);
  UNet net(*be, c, n);
  net.init(5);
  net.set_ema(0.9);
  for (int64_t s = 0; s < 3; ++s) net.train_step(px.data(), nullptr, n, hp, 77, s);
  const int64_t P = net.num_params(), B = net.num_buffers(), T = int64_t(c.timesteps) * c.time_dim;
  Vec want_p(P), want_b(B), want_a(2 * P), want_e(P + B), want_t(T);
  net.get_params(want_p.data());
  net.get_buffers(want_b.data());
  net.get_adam_state(want_a.data());
  net.get_ema_params(want_e.data());
  net.get_ema_buffers(want_e.data() + P);
  net.get_time_table(want_t.data());
  auto host = [&](int64_t floats) { return static_cast<float*>(be->alloc_host(sizeof(float) * floats)); };
  float *sp = host(P), *sb = host(B), *sa = host(2 * P), *se = host(P + B), *st = host(T);
  CHECK_THROWS(net.snapshot_begin(sp, sb, sa, nullptr, st), "keeps an EMA");
  net.snapshot_begin(sp, sb, sa, se, st);
  net.snapshot_wait();
  net.train_step(px.data(), nullptr, n, hp, 77, 3);  // moves the live state on, not the snapshot
  CHECK(std::memcmp(sp, want_p.data(), P * 4) == 0);
  CHECK(std::memcmp(sb, want_b.data(), B * 4) == 0);
  CHECK(std::memcmp(sa, want_a.data(), 2 * P * 4) == 0);
  CHECK(std::memcmp(se, want_e.data(), (P + B) * 4) == 0);
  CHECK(std::memcmp(st, want_t.data(), T * 4) == 0);
  Vec now(P);
  net.get_params(now.data());
  CHECK(std::memcmp(now.data(), want_p.data(), P * 4) != 0);
  for (float* p : {sp, sb, sa, se, st}) be->free_host(p);
}

TEST(sampling_is_reproducible_and_independent_of_batch_split) {
  const UNetConfig c = tiny_config();
  auto be = cpu();
  UNet net(*be, c, 4);
  randomise(net, 31);
  const int64_t per = net.sample_size();
  auto run = [&](int n, int64_t first) {
    net.sample_begin(n, 555, first);
    for (int t = c.timesteps - 1; t >= c.timesteps - 6; --t) net.sample_step(t);
    Vec out(n * per);
    net.sample_read(out.data(), false);
    return out;
  };
  Vec all = run(4, 0), again = run(4, 0), head = run(2, 0), tail = run(2, 2);
  CHECK(std::memcmp(all.data(), again.data(), all.size() * 4) == 0);
  CHECK(std::memcmp(all.data(), head.data(), head.size() * 4) == 0);
  CHECK(std::memcmp(all.data() + 2 * per, tail.data(), tail.size() * 4) == 0);
  // Full run to t = 0 with clipping stays within [-1, 1] and finite.
  net.sample_begin(2, 1, 0);
  for (int t = c.timesteps - 1; t >= 0; --t) net.sample_step(t);
  Vec img(2 * per);
  net.sample_read(img.data(), true);
  bool in_range = true;
  for (float v : img) in_range = in_range && std::isfinite(v) && v >= -1.0f && v <= 1.0f;
  CHECK(in_range);
}

// An unconditional model's sample steps read the time MLPs from tables built
// from the weights (UNet::Impl::TimeMlp::by_t); every change of the weights
// or of the time table must rebuild them: after each, sampling must equal a
// fresh model's given the same state.
TEST(sampling_time_tables_follow_the_weights) {
  const UNetConfig c = tiny_config();
  const int n = 2;
  auto be = cpu();
  UNet net(*be, c, n);
  randomise(net, 41);
  const int64_t per = net.sample_size();
  auto sample = [&](UNet& m) {
    m.sample_begin(n, 77, 0);
    for (int t = c.timesteps - 1; t >= c.timesteps - 4; --t) m.sample_step(t);
    Vec out(n * per);
    m.sample_read(out.data(), false);
    return out;
  };
  auto same = [](const Vec& a, const Vec& b) { return std::memcmp(a.data(), b.data(), a.size() * 4) == 0; };
  // A fresh model with net's parameters, buffers and time table.
  auto twin_of = [&](UNet& m) {
    auto twin = std::make_unique<UNet>(*be, c, n);
    Vec p(m.num_params()), b(m.num_buffers()), table(size_t(c.timesteps) * c.time_dim);
    m.get_params(p.data());
    m.get_buffers(b.data());
    m.get_time_table(table.data());
    twin->set_params(p.data());
    twin->set_buffers(b.data());
    twin->set_time_table(table.data());
    return twin;
  };
  const Vec first = sample(net);
  CHECK(same(first, sample(*twin_of(net))));
  // set_params alone (randomise's init also sets the time table)
  Vec p(net.num_params());
  net.get_params(p.data());
  for (float& v : p) v *= 1.1f;
  net.set_params(p.data());
  const Vec after_set = sample(net);
  CHECK(!same(first, after_set));
  CHECK(same(after_set, sample(*twin_of(net))));
  // train_step
  std::vector<uint8_t> px(size_t(n) * net.sample_size());
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 37 + 11) % 256);
  AdamParams hp;
  hp.lr = 1e-2;
  net.train_step(px.data(), nullptr, n, hp, 5, 0);
  const Vec after_step = sample(net);
  CHECK(!same(after_set, after_step));
  CHECK(same(after_step, sample(*twin_of(net))));
  // swap_ema: the EMA's weights become the model's
  Vec ema(net.num_params());
  net.get_params(ema.data());
  for (float& v : ema) v *= 0.9f;
  net.set_ema_params(ema.data());
  net.swap_ema();
  const Vec after_swap = sample(net);
  CHECK(!same(after_step, after_swap));
  CHECK(same(after_swap, sample(*twin_of(net))));
  // set_time_table
  Vec table(size_t(c.timesteps) * c.time_dim);
  net.get_time_table(table.data());
  for (float& v : table) v = -v;
  net.set_time_table(table.data());
  const Vec after_table = sample(net);
  CHECK(!same(after_swap, after_table));
  CHECK(same(after_table, sample(*twin_of(net))));
}

TEST(schedule_coefficients) {
  Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  CHECK(std::fabs(s.beta[0] - 1e-4f) < 1e-9 && std::fabs(s.beta[999] - 0.02f) < 1e-9);
  double abar = 1;
  for (int t = 0; t < 1000; ++t) abar *= 1.0 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
  CHECK(std::fabs(s.alpha_bar[999] - abar) < 1e-9);
  CHECK(s.sigma[0] == 0.0f && s.sigma[1] > 0.0f);
  CHECK(std::fabs(s.c_eps[10] - s.beta[10] / std::sqrt(1 - s.alpha_bar[10])) < 1e-6);
}

TEST_MAIN()
