// Loading a golden file's state_dict (scripts/make_*golden*.py) into a UNet:
// every parameter and BatchNorm statistic by its PyTorch name, shapes checked.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ddpm/unet.h"
#include "safetensors.h"
#include "testing.h"

namespace ddpm {
namespace testing {

// The model configuration a golden file's metadata names (the scripts write
// in_channels, base, depth, height, width, time_dim, timesteps, and
// num_classes for conditional models).
inline UNetConfig golden_config(const SafeTensors& g) {
  UNetConfig c;
  c.in_channels = g.meta_int("in_channels");
  c.base_width = g.meta_int("base");
  c.depth = g.meta_int("depth");
  c.height = g.meta_int("height");
  c.width = g.meta_int("width");
  c.time_dim = g.meta_int("time_dim");
  c.timesteps = g.meta_int("timesteps");
  if (g.metadata().count("num_classes")) c.num_classes = g.meta_int("num_classes");
  return c;
}

inline void load_state_dict(UNet& net, const SafeTensors& g) {
  std::vector<float> params(net.num_params()), buffers(net.num_buffers());
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const TensorInfo& t = net.param_tensor(i);
    const StTensor& s = g.at(t.name);
    CHECK_MSG(s.shape == t.shape, "shape of " + t.name);
    if (s.shape == t.shape) std::memcpy(params.data() + t.offset, s.f32.data(), t.size * 4);
  }
  for (int i = 0; i < net.num_buffer_tensors(); ++i) {
    const TensorInfo& t = net.buffer_tensor(i);
    std::memcpy(buffers.data() + t.offset, g.at(t.name).f32.data(), t.size * 4);
  }
  net.set_params(params.data());
  net.set_buffers(buffers.data());
  net.set_time_table(g.at("time_embed.weight").f32.data());
}

// After a train-mode forward that gave `out` for the golden's input: the
// output, then backward from the golden's input.r, the input gradient and every
// parameter gradient against PyTorch's. Both sides are fp32 with different
// summation orders through ~8 layers with BatchNorm over as few as 3*3*2 = 18
// values; measured max_abs ~2e-6 on the output.
inline void check_golden_train_step(UNet& net, const SafeTensors& g, const std::vector<float>& out, int n) {
  CHECK_CLOSE("train-mode output", out.data(), g.at("output.train").f32.data(), out.size(), 1e-4, 1e-4);
  std::vector<float> dx(out.size());
  net.backward_host(g.at("input.r").f32.data(), dx.data(), n);
  CHECK_CLOSE("input gradient", dx.data(), g.at("grad.x").f32.data(), dx.size(), 1e-4, 1e-3);
  std::vector<float> grads(net.num_params());
  net.get_grads(grads.data());
  for (int i = 0; i < net.num_param_tensors(); ++i) {
    const TensorInfo& ti = net.param_tensor(i);
    // Parameter gradients sum over the batch and pixels: scale atol with the
    // tensor's largest reference value.
    const std::vector<float>& ref = g.at("grad." + ti.name).f32;
    double scale = 0;
    for (float v : ref) scale = std::max(scale, double(std::fabs(v)));
    CHECK_CLOSE("gradient of " + ti.name, grads.data() + ti.offset, ref.data(), ti.size, 1e-4 * (1 + scale), 1e-3);
  }
}

// The golden's int tensor as int32.
inline std::vector<int32_t> ints32(const SafeTensors& g, const std::string& name) {
  const auto& v = g.at(name).ints;
  return std::vector<int32_t>(v.begin(), v.end());
}

}  // namespace testing
}  // namespace ddpm
