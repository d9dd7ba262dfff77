// Class-conditional UNet and classifier-free guidance: the class-embedding
// ops (forward against the formula, backward against finite differences),
// the whole conditional UNet against PyTorch (golden/unet_cond_tiny.safetensors:
// train forward, every gradient including the class embedding's, eval forward
// with labels and with the null class), a finite-difference check of the
// class embedding through the whole model, the training step's label
// dropout, and guided sampling against its definition.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
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

UNetConfig tiny_conditional(int classes = 4) {
  UNetConfig c = tiny_config();
  c.num_classes = classes;
  return c;
}

}  // namespace

TEST(class_embed_add_adds_the_labelled_rows) {
  auto be = cpu();
  const int N = 5, D = 7, K = 4;
  Vec table = random_vector(K * D, 1), base = random_vector(N * D, 2), out = base;
  std::vector<int32_t> labels = {3, 0, 3, 1, 2};
  be->class_embed_add(table.data(), labels.data(), out.data(), N, D, K);
  std::vector<double> ref(N * D);
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < D; ++d) ref[n * D + d] = double(base[n * D + d]) + table[labels[n] * D + d];
  CHECK_CLOSE("class_embed_add", out.data(), ref.data(), out.size(), 1e-7, 1e-7);
  labels[2] = 4;
  CHECK_THROWS(be->class_embed_add(table.data(), labels.data(), out.data(), N, D, K), "label 4 of sample 2");
  labels[2] = -1;
  CHECK_THROWS(be->class_embed_backward(out.data(), 1, labels.data(), table.data(), N, D, K), "label -1");
}

// L = sum_s sum_{n,d} R[s, n, d] * e[n, d] with e = base + table[labels]: the
// gradient of table is class_embed_backward(R) (linear, so exact differences).
TEST(class_embed_backward_against_finite_differences) {
  auto be = cpu();
  const int N = 6, D = 5, K = 4, S = 3;
  Vec table = random_vector(K * D, 3), base = random_vector(N * D, 4), R = random_vector(S * N * D, 5);
  std::vector<int32_t> labels = {1, 3, 1, 0, 3, 3};  // class 2 unused: its gradient must be 0
  Vec e(N * D);
  auto loss = [&] {
    e = base;
    be->class_embed_add(table.data(), labels.data(), e.data(), N, D, K);
    double l = 0;
    for (int s = 0; s < S; ++s)
      for (int i = 0; i < N * D; ++i) l += double(R[s * N * D + i]) * e[i];
    return l;
  };
  Vec grad(K * D, 123.0f);  // overwrite: the junk must go
  be->class_embed_backward(R.data(), S, labels.data(), grad.data(), N, D, K);
  grad_check("class_embed table", table, grad, loss);
  bool zero = true;
  for (int d = 0; d < D; ++d) zero = zero && grad[2 * D + d] == 0.0f;
  CHECK(zero);
}

TEST(conditional_parameter_table_and_init) {
  auto be = cpu();
  UNetConfig c = tiny_conditional(10);
  UNet net(*be, c, 2);
  UNetConfig u = c;
  u.num_classes = 0;
  UNet plain(*be, u, 2);
  const TensorInfo& last = net.param_tensor(net.num_param_tensors() - 1);
  CHECK(last.name == "class_embed.weight");
  CHECK((last.shape == std::vector<int64_t>{11, 8}));
  CHECK(net.num_params() == plain.num_params() + 11 * 8);
  CHECK(net.null_class() == 10);
  // nn.Embedding's N(0, 1) init: the mean and variance of 88 draws.
  Vec p(net.num_params());
  net.get_params(p.data());
  double m = 0, v = 0;
  for (int64_t i = 0; i < last.size; ++i) m += p[last.offset + i];
  m /= last.size;
  for (int64_t i = 0; i < last.size; ++i) v += (p[last.offset + i] - m) * (p[last.offset + i] - m);
  v /= last.size;
  CHECK(std::fabs(m) < 0.4 && v > 0.6 && v < 1.5);
  u.num_classes = -1;
  CHECK_THROWS(validate(u), "num_classes");
}

TEST(conditional_unet_matches_torch_golden) {
  SafeTensors g("golden/unet_cond_tiny.safetensors");
  const UNetConfig c = golden_config(g);
  const int n = g.meta_int("batch");
  auto be = cpu();
  UNet net(*be, c, n);
  load_state_dict(net, g);
  const Vec& x = g.at("input.x").f32;
  const std::vector<int32_t> t = ints32(g, "input.t"), y = ints32(g, "input.y");
  Vec out(x.size());
  net.forward_host(x.data(), t.data(), y.data(), out.data(), n, true);
  check_golden_train_step(net, g, out, n);
  net.forward_host(x.data(), t.data(), y.data(), out.data(), n, false);
  CHECK_CLOSE("eval-mode output", out.data(), g.at("output.eval").f32.data(), out.size(), 1e-4, 1e-4);
  net.forward_host(x.data(), t.data(), out.data(), n, false);  // no labels: the null class
  CHECK_CLOSE("eval-mode output, null class", out.data(), g.at("output.eval_null").f32.data(), out.size(), 1e-4,
              1e-4);
  std::vector<int32_t> bad = y;
  bad[1] = c.num_classes + 1;
  CHECK_THROWS(net.forward_host(x.data(), t.data(), bad.data(), out.data(), n, false), "label 4 of sample 1");
}

// The class embedding's gradient through the whole model (every time MLP,
// BatchNorm, convolutions), by directional finite differences as
// test_unet's whole-model check (BatchNorm shifted to +3: no ReLU kinks).
TEST(class_embedding_gradient_through_the_model) {
  const UNetConfig c = tiny_conditional(3);
  const int n = 8;
  auto be = cpu();
  UNet net(*be, c, n);
  net.init(17);
  Vec p0(net.num_params());
  net.get_params(p0.data());
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const TensorInfo& t = net.param_tensor(i);
    if (t.name.find(".conv.4.bias") != std::string::npos || t.name.find(".conv.1.bias") != std::string::npos)
      for (int64_t k = 0; k < t.size; ++k) p0[t.offset + k] = 3.0f;
  }
  const TensorInfo& ce = net.param_tensor(net.num_param_tensors() - 1);
  Vec x = random_vector(size_t(n) * 3 * 64, 2), R = random_vector(x.size(), 3), out(x.size());
  std::vector<int32_t> t(n), y = {0, 1, 2, 3, 0, 0, 3, 1};
  for (int i = 0; i < n; ++i) t[i] = (i * 13) % c.timesteps;
  auto loss_at = [&](const Vec& params) {
    net.set_params(params.data());
    net.forward_host(x.data(), t.data(), y.data(), out.data(), n, true);
    return dot(out, R);
  };
  loss_at(p0);
  net.backward_host(R.data(), nullptr, n);
  Vec grads(net.num_params());
  net.get_grads(grads.data());
  Vec g(grads.begin() + ce.offset, grads.begin() + ce.offset + ce.size);
  Vec table(p0.begin() + ce.offset, p0.begin() + ce.offset + ce.size);
  GradCheckOptions opt;
  opt.h = 1e-2;
  opt.atol = 5e-3;  // float32 forward noise ~1e-5/h on L ~ 10 (see test_unet.cpp)
  grad_check("class_embed.weight through the UNet", table, g, [&] {
    Vec p = p0;
    std::copy(table.begin(), table.end(), p.begin() + ce.offset);
    return loss_at(p);
  }, opt);
}

// train_step drops label i to the null class when uniform_at(seed, 4s + 2, i)
// < cond_drop, then is the plain DDPM step with those labels.
TEST(conditional_train_step_drops_labels_as_documented) {
  const UNetConfig c = tiny_conditional(4);
  const int n = 6;
  const int64_t per = 3 * 64;
  auto be = cpu();
  UNet a(*be, c, n), b(*be, c, n);
  a.init(4);
  b.init(4);
  a.set_cond_drop(0.5);
  CHECK_THROWS(a.set_cond_drop(1.5), "probability");
  std::vector<uint8_t> px(n * per);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 37 % 256);
  std::vector<int32_t> labels = {0, 1, 2, 3, 2, 1};
  AdamParams hp;
  hp.lr = 1e-3;
  const uint64_t seed = 2;  // drops 3 of the 6 labels at step 3
  const int64_t step = 3;
  CHECK_THROWS(a.train_step(px.data(), nullptr, n, hp, seed, step), "needs the batch's labels");
  labels[0] = 4;  // the null class is not a training label
  CHECK_THROWS(a.train_step(px.data(), nullptr, labels.data(), n, hp, seed, step), "label 4");
  labels[0] = 0;
  a.train_step(px.data(), nullptr, labels.data(), n, hp, seed, step);

  std::vector<int32_t> dropped(n);
  int drops = 0;
  for (int i = 0; i < n; ++i) {
    dropped[i] = rng::uniform_at(seed, 4 * step + 2, i) < 0.5f ? 4 : labels[i];
    drops += dropped[i] == 4;
  }
  CHECK(drops > 0 && drops < n);  // this seed exercises both
  // Reference: the documented composition with the dropped labels (as test_unet.cpp).
  const Schedule s = Schedule::linear(c.timesteps, c.beta_start, c.beta_end);
  std::vector<int32_t> t(n);
  Vec xt(n * per), eps(n * per), out(n * per), dout(n * per);
  for (int i = 0; i < n; ++i) t[i] = rng::uniform_int_at(seed, 4 * step, i, c.timesteps);
  for (int64_t k = 0; k < n * per; ++k) {
    eps[k] = rng::gaussian_at(seed, 4 * step + 1, k);
    const int i = int(k / per);
    xt[k] = s.sqrt_alpha_bar[t[i]] * (float(px[k]) / 127.5f - 1.0f) + s.sqrt_one_minus_alpha_bar[t[i]] * eps[k];
  }
  b.forward_host(xt.data(), t.data(), dropped.data(), out.data(), n, true);
  for (int64_t k = 0; k < n * per; ++k) dout[k] = 2.0f / float(n * per) * (out[k] - eps[k]);
  b.backward_host(dout.data(), nullptr, n);
  Vec p(b.num_params()), g(b.num_params()), mv(2 * b.num_params(), 0.0f);
  b.get_params(p.data());
  b.get_grads(g.data());
  hp.step = 1;
  be->adam_update(p.data(), g.data(), mv.data(), mv.data() + p.size(), p.size(), hp);
  Vec pa(a.num_params());
  a.get_params(pa.data());
  CHECK_CLOSE("parameters after a conditional train_step", pa.data(), p.data(), p.size(), 1e-7, 1e-6);
}

// Guided sampling: each step's eps is eps_null + w (eps_label - eps_null), the
// two passes batched; w = 1 is the conditional pass alone, w = 0 the null one.
TEST(guided_sampling_is_the_documented_mix) {
  const UNetConfig c = tiny_conditional(4);
  const int n = 3;
  auto be = cpu();
  UNet net(*be, c, 2 * n), ref(*be, c, 2 * n);
  net.init(21);
  ref.init(21);
  const int64_t per = net.sample_size();
  const Schedule s = Schedule::linear(c.timesteps, c.beta_start, c.beta_end);
  std::vector<int32_t> labels = {2, 0, 4};  // 4: the null class may be asked for too
  std::vector<int32_t> nulls(n, 4);
  for (float w : {2.5f, 1.0f, 0.0f}) {
    net.sample_begin(n, 5, 0);
    net.sample_set_labels(labels.data(), w);
    Vec x(n * per), got(n * per);
    net.sample_read(x.data(), false);  // x_T
    for (int t : {49, 48}) {
      net.sample_step(t);
      std::vector<int32_t> tt(n, t);
      Vec ec(n * per), eu(n * per);
      ref.forward_host(x.data(), tt.data(), labels.data(), ec.data(), n, false);
      ref.forward_host(x.data(), tt.data(), nulls.data(), eu.data(), n, false);
      for (int64_t k = 0; k < n * per; ++k) {
        const double e = double(eu[k]) + w * (double(ec[k]) - eu[k]);
        const double z = rng::gaussian_at(5, (1ull << 63) + 1 + t, k);
        x[k] = float(s.c_x[t] * (x[k] - s.c_eps[t] * e) + s.sigma[t] * z);
      }
    }
    net.sample_read(got.data(), false);
    CHECK_CLOSE("guided sampling w=" + std::to_string(w), got.data(), x.data(), got.size(), 1e-5, 1e-5);
  }
  UNet small(*be, c, n);
  small.sample_begin(n, 5, 0);
  CHECK_THROWS(small.sample_set_labels(labels.data(), 2.0f), "more than max_batch");
  small.sample_set_labels(labels.data(), 1.0f);  // one pass: fits
  labels[0] = 5;
  CHECK_THROWS(small.sample_set_labels(labels.data(), 1.0f), "label 5");
  UNetConfig u = c;
  u.num_classes = 0;
  UNet plain(*be, u, n);
  plain.sample_begin(n, 5, 0);
  CHECK_THROWS(plain.sample_set_labels(nulls.data(), 1.0f), "not class-conditional");
}

TEST_MAIN()
