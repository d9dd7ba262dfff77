#include "ddpm/op_bench.h"

#include <random>

namespace ddpm {

float* OpBench::buffer(size_t n, uint32_t seed) {
  std::vector<float> host(n);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (auto& v : host) v = dist(gen);
  auto* p = static_cast<float*>(backend_.alloc(n * sizeof(float)));
  allocations_.push_back(p);
  backend_.upload(p, host.data(), n * sizeof(float));
  return p;
}

OpBench::OpBench(Backend& backend, const std::string& kind, int N, int Cin, int Cout, int H, int W)
    : backend_(backend), kind_(kind), N_(N), Cin_(Cin), Cout_(Cout), H_(H), W_(W) {
  if (N < 1 || Cin < 1 || H < 1 || W < 1) throw Error("OpBench: sizes must be positive");
  const size_t in = size_t(N) * Cin * H * W;
  if (kind == "block_forward" || kind == "block_backward") {
    if (Cout < 1) throw Error("OpBench: Cout must be positive");
    const size_t out = size_t(N) * Cout * H * W;
    x_ = buffer(in, 1);
    w_ = buffer(size_t(Cout) * Cin * 9, 2);
    b_ = buffer(Cout, 3);
    z_ = buffer(out, 4);
    y_ = buffer(out, 5);
    gamma_ = buffer(Cout, 6);
    beta_ = buffer(Cout, 7);
    rm_ = buffer(Cout, 8);
    rv_ = buffer(Cout, 9);
    backend_.fill(rv_, 1.0f, Cout);
    sm_ = buffer(Cout, 10);
    si_ = buffer(Cout, 11);
    const double conv = 2.0 * out * Cin * 9;
    if (kind == "block_forward") {
      flops_ = conv;
      bytes_ = 4.0 * (in + 3 * out);
    } else {
      dy_ = buffer(out, 12);
      dz_ = buffer(out, 13);
      dx_ = buffer(in, 14);
      dw_ = buffer(size_t(Cout) * Cin * 9, 15);
      db_ = buffer(Cout, 16);
      dg_ = buffer(Cout, 17);
      dbe_ = buffer(Cout, 18);
      // a forward so the saved statistics are real
      backend_.conv2d_forward(x_, w_, nullptr, z_, N, Cin, H, W, Cout, 3);
      backend_.batchnorm_relu_forward(z_, y_, gamma_, beta_, b_, rm_, rv_, sm_, si_, nullptr, N, Cout, H * W, true,
                                      0.1f, 1e-5f);
      flops_ = 2 * conv;
      bytes_ = 4.0 * (2 * in + 4 * out);
    }
  } else if (kind == "adam") {
    x_ = buffer(in, 1);
    dx_ = buffer(in, 2);
    m_ = buffer(in, 3);
    v_ = buffer(in, 4);
    backend_.fill(v_, 0.0f, in);
    bytes_ = 4.0 * 7 * in;  // read p, g, m, v; write p, m, v
  } else if (kind == "noise_add" || kind == "reverse_step") {
    x_ = buffer(in, 1);
    dx_ = buffer(in, 2);
    y_ = buffer(in, 3);
    table_ = buffer(2000, 4);
    t_ = static_cast<int32_t*>(backend_.alloc(sizeof(int32_t) * N));
    allocations_.push_back(t_);
    std::vector<int32_t> t(N);
    for (int i = 0; i < N; ++i) t[i] = (i * 37) % 1000;
    backend_.upload(t_, t.data(), sizeof(int32_t) * N);
    bytes_ = 4.0 * 3 * in;
  } else {
    throw Error("OpBench: unknown kind '" + kind +
                "' (block_forward, block_backward, adam, noise_add, reverse_step)");
  }
  backend_.synchronize();
}

OpBench::~OpBench() {
  for (void* p : allocations_) backend_.free(p);
}

void OpBench::run() {
  const int HW = H_ * W_;
  if (kind_ == "block_forward") {
    // As the UNet's training step: the conv bias goes to the BatchNorm.
    backend_.conv2d_forward(x_, w_, nullptr, z_, N_, Cin_, H_, W_, Cout_, 3);
    backend_.batchnorm_relu_forward(z_, y_, gamma_, beta_, b_, rm_, rv_, sm_, si_, nullptr, N_, Cout_, HW, true, 0.1f,
                                    1e-5f);
  } else if (kind_ == "block_backward") {
    backend_.batchnorm_relu_backward(z_, dy_, gamma_, beta_, sm_, si_, dz_, dg_, dbe_, db_, nullptr, N_, Cout_, HW);
    backend_.conv2d_backward(x_, w_, dz_, dx_, dw_, nullptr, N_, Cin_, H_, W_, Cout_, 3);
  } else if (kind_ == "adam") {
    AdamParams p;
    p.step = ++step_;
    backend_.adam_update(x_, dx_, m_, v_, size_t(N_) * Cin_ * HW, p);
  } else if (kind_ == "noise_add") {
    backend_.noise_add(x_, dx_, t_, table_, table_ + 1000, y_, N_, size_t(Cin_) * HW);
  } else {
    backend_.reverse_step(x_, dx_, y_, N_, size_t(Cin_) * HW, 1.01f, 0.1f, 0.05f, 1, 2, 0);
  }
}

}  // namespace ddpm
