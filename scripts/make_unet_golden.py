"""Writes native/tests/golden/unet_tiny.safetensors: a tiny seed UNet's weights
(random, BatchNorm affine and running statistics included), an input batch,
and what PyTorch computes for it: the train-mode output, the gradients of
sum(out * R) for every parameter and for the input, the running statistics
after that forward, and the eval-mode output after it. test_unet.cpp checks
ddpm4j's UNet against all of these. Run: python3 scripts/make_unet_golden.py
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_unet import SeedUNet  # noqa: E402

CFG = dict(in_channels=3, base=4, depth=2, height=12, width=10, time_dim=16, timesteps=1000, batch=3)


def main():
    torch.manual_seed(1234)
    c = CFG
    model = SeedUNet(c["in_channels"], c["base"], c["depth"], c["timesteps"], c["time_dim"])
    with torch.no_grad():  # exercise the BatchNorm affine and running statistics too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(c["batch"], c["in_channels"], c["height"], c["width"], requires_grad=True)
    t = torch.tensor([0, 499, 999], dtype=torch.long)
    r = torch.randn(c["batch"], c["in_channels"], c["height"], c["width"])

    out = {}
    for k, v in model.state_dict().items():
        out[k] = v.clone()
    model.train()
    y = model(x, t)
    (y * r).sum().backward()
    out["input.x"] = x.detach().clone()
    out["input.t"] = t.to(torch.int32)
    out["input.r"] = r
    out["output.train"] = y.detach().clone()
    out["grad.x"] = x.grad.clone()
    for name, p in model.named_parameters():
        if p.requires_grad:  # time_embed.weight is frozen
            out["grad." + name] = p.grad.clone()
    for k, v in model.state_dict().items():
        if "running" in k:
            out["after." + k] = v.clone()
    model.eval()
    with torch.no_grad():
        out["output.eval"] = model(x.detach(), t)
    meta = {k: str(v) for k, v in CFG.items()}
    meta["torch"] = torch.__version__
    path = os.path.join(os.path.dirname(__file__), "..", "native", "tests", "golden", "unet_tiny.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, path, metadata=meta)
    print(f"wrote {os.path.normpath(path)}: {len(out)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
