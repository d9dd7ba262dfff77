#!/usr/bin/env python3
"""Builds the seed UNet (scripts/seed_unet.py: the notebook's module names) at a
tiny configuration, gives every tensor non-trivial values (random BatchNorm
affine parameters and running statistics, a num_batches_tracked count, the
notebook's time table), and writes the golden files the Java tests read:

  java/src/test/resources/golden/seed_unet_tiny.safetensors     the state_dict, as torch saves it
  java/src/test/resources/golden/seed_unet_tiny_io.safetensors  x (F32 [N,3,32,32]), t (I64 [N]),
                                                                eval_out = model.eval()(x, t) (F32)

Configuration: in_channels 3, base 2, depth 4 (the seed's module layout:
down1..4, up1..4, te1..5, te1_up..4_up), 32x32 images, n_steps 100, time_emb_dim 32.
Run from the repository root:  python3 scripts/make_safetensors_golden.py
Needs torch and safetensors (not needed by CI: the outputs are committed).
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_unet import SeedUNet, notebook_table  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "java", "src", "test", "resources", "golden")
CONFIG = dict(in_channels=3, base=2, depth=4, n_steps=100, time_emb_dim=32)
NUM_BATCHES = 1234


def main():
    torch.manual_seed(20251127)
    # The notebook's own (non-standard) table: an import must keep it.
    model = SeedUNet(**CONFIG, table=notebook_table(CONFIG["n_steps"], CONFIG["time_emb_dim"]))
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(NUM_BATCHES)
    model.eval()
    n = 3
    x = torch.randn(n, CONFIG["in_channels"], 32, 32)
    t = torch.tensor([0, 37, CONFIG["n_steps"] - 1], dtype=torch.int64)
    with torch.no_grad():
        out = model(x, t)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    os.makedirs(OUT, exist_ok=True)
    save_file(sd, os.path.join(OUT, "seed_unet_tiny.safetensors"))
    save_file({"x": x, "t": t, "eval_out": out.contiguous()}, os.path.join(OUT, "seed_unet_tiny_io.safetensors"))
    params = sum(v.numel() for v in sd.values())
    print(f"wrote {len(sd)} tensors ({params} values) and the io file to {os.path.normpath(OUT)}")
    print(f"eval_out: mean {out.mean():.6f} std {out.std():.6f} max |.| {out.abs().max():.6f}")


if __name__ == "__main__":
    main()
