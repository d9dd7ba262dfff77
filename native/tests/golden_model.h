// Loading a golden file's state_dict (scripts/make_*golden*.py) into a UNet:
// every parameter and BatchNorm statistic by its PyTorch name, shapes checked.
#pragma once

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

// The golden's int tensor as int32.
inline std::vector<int32_t> ints32(const SafeTensors& g, const std::string& name) {
  const auto& v = g.at(name).ints;
  return std::vector<int32_t>(v.begin(), v.end());
}

}  // namespace testing
}  // namespace ddpm
