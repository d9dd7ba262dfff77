"""Writes native/tests/golden/repaint_tiny.safetensors: Hugging Face diffusers' own RePaintScheduler
(Lugmayr et al. 2022) inpainting with the tiny seed UNet of the other sampler goldens, driven by
RePaintPipeline's loop, so that ddpm4j's RePaint (UNet::sample_step_repaint, sample_undo; the Java
Sampler's schedule) can be checked against the implementation users compare to.

diffusers is NOT a dependency of ddpm4j and no diffusers code is copied here: the script imports
RePaintScheduler from a diffusers source tree given by --diffusers-src DIR or $DIFFUSERS_SRC, as
make_dpm_solver_golden.py does (see there for the commit and how to extract a tree). CI never runs it:
the .safetensors file is committed.

Scheduler: num_train_timesteps 1000, trained_betas = ddpm4j's linear betas (float64), clip_sample True
(diffusers' default), eta per case. The loop is RePaintPipeline.__call__'s: set_timesteps(S, jump_length,
jump_n_sample); t_last = timesteps[0] + 1; for t in timesteps: if t < t_last: x = step(model(x, t), t, x,
known, keep).prev_sample, else x = undo_step(x, t_last); t_last = t. The scheduler's noise (one tensor a
step, span = T // S tensors an undo, in that order) is ddpm4j's: draw d of a sampling is
gaussian_at(seed, REPAINT_STREAM0 + d, idx) with idx = first_index*per .. (first_index+n)*per
(unet.cpp: sample_repaint_stream), put in place of diffusers' randn_tensor; x_T is ddpm4j's
sample_begin noise, gaussian_at(seed, 2^63, idx).

Per case NAME the file holds NAME.x_T, NAME.known, NAME.keep (1: keep the known pixel, diffusers'
mask), NAME.args (int64 [steps, jump_length, jump_n_sample, seed, first_index]), NAME.eta (float32 [1]),
NAME.timesteps (int32, diffusers' schedule), NAME.x_mid (x after the first jump back and the model
step that follows it) and NAME.x_final; plus the model's state_dict and metadata as
make_dpm_solver_golden.py.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_dpm_solver_golden import diffusers_commit, import_diffusers  # noqa: E402
from make_feature_goldens import SAMPLING_CFG, gaussian_at, linear_alphas_cumprod, sampling_model, save  # noqa: E402

SAMPLE_INIT_STREAM = 1 << 63
REPAINT_STREAM0 = (1 << 63) + (2 << 32)
# name: (steps, jump_length, jump_n_sample, eta, seed, first_index)
CASES = {
    "eta0_25": (25, 5, 3, 0.0, 17, 2),
    "eta1_20": (20, 4, 2, 1.0, 5, 0),
}


def import_repaint(src):
    _, version = import_diffusers(src)
    from diffusers.schedulers import scheduling_repaint
    return scheduling_repaint, version


class Noise:
    """ddpm4j's RePaint draws, in the order the scheduler asks for them."""

    def __init__(self, seed, first_index, n, per):
        self.seed, self.draw = seed, 0
        self.idx = np.arange(first_index * per, (first_index + n) * per, dtype=np.uint64)

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        z = gaussian_at(self.seed, REPAINT_STREAM0 + self.draw, self.idx)
        self.draw += 1
        return torch.from_numpy(z).reshape(shape).to(dtype or torch.float32)


def run_case(module, model, betas, steps, jump_length, jump_n_sample, eta, seed, first, n, cfg):
    shape = (n, cfg["in_channels"], cfg["height"], cfg["width"])
    per = int(np.prod(shape[1:]))
    idx = np.arange(first * per, (first + n) * per, dtype=np.uint64)
    x = torch.from_numpy(gaussian_at(seed, SAMPLE_INIT_STREAM, idx)).reshape(shape)
    x_T = x.clone()
    known = torch.rand(shape) * 2 - 1
    keep = torch.zeros(shape)
    keep[..., : cfg["width"] // 2] = 1.0  # the left half kept
    keep[:, :, 0, :] = 1.0  # and the top row
    sched = module.RePaintScheduler(num_train_timesteps=len(betas), trained_betas=betas, eta=eta, clip_sample=True)
    sched.set_timesteps(steps, jump_length, jump_n_sample)
    noise = Noise(seed, first, n, per)
    module.randn_tensor = noise
    timesteps = sched.timesteps.tolist()
    t_last = timesteps[0] + 1
    x_mid, jumped = None, False
    for t in timesteps:
        if t < t_last:
            with torch.no_grad():
                eps = model(x, torch.full((n,), int(t), dtype=torch.long))
            x = sched.step(eps, t, x, known, keep).prev_sample
            if jumped and x_mid is None:
                x_mid = x.clone()
        else:
            x = sched.undo_step(x, t_last)
            jumped = True
        assert x.dtype == torch.float32
        t_last = t
    return x_T, known, keep, torch.tensor(timesteps, dtype=torch.int32), x_mid, x, noise.draw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--diffusers-src", default=os.environ.get("DIFFUSERS_SRC"))
    ap.add_argument("--diffusers-commit", default=os.environ.get("DIFFUSERS_COMMIT"))
    args = ap.parse_args()
    module, version = import_repaint(args.diffusers_src)
    commit = diffusers_commit(os.path.abspath(args.diffusers_src), args.diffusers_commit)
    print(f"diffusers commit {commit}")
    cfg = SAMPLING_CFG
    model, out = sampling_model()
    n = 2
    betas, _ = linear_alphas_cumprod(cfg["timesteps"])
    for name, (steps, jl, js, eta, seed, first) in CASES.items():
        x_T, known, keep, ts, x_mid, x, draws = run_case(module, model, np.asarray(betas, dtype=np.float64), steps, jl,
                                                         js, eta, seed, first, n, cfg)
        print(f"{name}: {steps} steps, jumps {jl} x {js}, eta {eta}, seed {seed}, first_index {first}: "
              f"{len(ts)} entries, {draws} noise draws")
        out[f"{name}.x_T"] = x_T
        out[f"{name}.known"] = known
        out[f"{name}.keep"] = keep
        out[f"{name}.args"] = torch.tensor([steps, jl, js, seed, first], dtype=torch.int64)
        out[f"{name}.eta"] = torch.tensor([eta], dtype=torch.float32)
        out[f"{name}.timesteps"] = ts
        out[f"{name}.x_mid"] = x_mid
        out[f"{name}.x_final"] = x
    meta = {k: str(v) for k, v in cfg.items()}
    meta["batch"] = str(n)
    meta["diffusers_commit"] = commit
    meta["diffusers_version"] = version
    meta["cases"] = ",".join(CASES)
    save(out, "repaint_tiny.safetensors", meta)


if __name__ == "__main__":
    main()
