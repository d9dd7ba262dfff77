#!/usr/bin/env python3
"""Checks that a safetensors file exported by `ddpm export` loads into the seed
notebook's PyTorch UNet (scripts/seed_unet.py) with load_state_dict(strict=True),
and runs an eval-mode forward pass on it.

  python3 scripts/check_export_with_torch.py model.safetensors [--io io.safetensors]

The model's shape is read from the tensors. With --io, the file must hold x, t
and eval_out (as the golden io file does); the script then compares PyTorch's
output with eval_out (atol 1e-4 + rtol 1e-3 * |ref|). Exits non-zero on failure.
"""
import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_unet import SeedUNet, config_from_state_dict  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--io", help="safetensors with x, t, eval_out to compare against")
    a = ap.parse_args()
    sd = load_file(a.file)
    with safe_open(a.file, "pt") as f:
        meta = f.metadata() or {}
    cfg = config_from_state_dict(sd)
    size = 32
    if "ddpm4j_config" in meta:
        size = json.loads(meta["ddpm4j_config"])["height"]
    model = SeedUNet(**cfg)
    result = model.load_state_dict(sd, strict=True)
    print(f"loaded {len(sd)} tensors into SeedUNet({cfg}) with strict=True: {result}")
    dtypes = sorted({str(v.dtype) for v in sd.values()})
    print(f"dtypes: {dtypes}; num_batches_tracked: {int(sd['conv1.conv.1.num_batches_tracked'])}")
    model.eval()
    if a.io:
        io = load_file(a.io)
        x, t, ref = io["x"], io["t"], io["eval_out"]
    else:
        torch.manual_seed(0)
        x = torch.randn(4, cfg["in_channels"], size, size)
        t = torch.tensor([0, cfg["n_steps"] // 3, cfg["n_steps"] // 2, cfg["n_steps"] - 1])
        ref = None
    with torch.no_grad():
        out = model(x, t)
    if not torch.isfinite(out).all():
        print("FAIL: non-finite output")
        return 1
    print(f"eval forward on {tuple(x.shape)}: output mean {out.mean():.6f} std {out.std():.6f}")
    if ref is not None:
        err = (out - ref).abs()
        tol = 1e-4 + 1e-3 * ref.abs()
        bad = int((err > tol).sum())
        print(f"vs --io eval_out: max abs diff {err.max():.3e}, {bad} elements outside atol 1e-4 + rtol 1e-3")
        if bad:
            print("FAIL")
            return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
