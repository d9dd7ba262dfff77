"""Writes native/tests/golden/dpm_solver_tiny.safetensors: trajectories of Hugging Face
diffusers' own DPMSolverMultistepScheduler (DPM-Solver++ 2M, Lu et al. 2022) sampling the tiny
seed UNet of ddim_tiny.safetensors, so that ddpm4j's DPM-Solver can be checked against the
reference implementation users compare to.

diffusers is NOT a dependency of ddpm4j and no diffusers code is copied here: the script imports
DPMSolverMultistepScheduler from a diffusers source tree given by --diffusers-src DIR or
$DIFFUSERS_SRC (a checkout's root, which holds src/diffusers, or the src folder itself). It
needs torch, numpy, safetensors and diffusers' own imports (huggingface_hub, ...). CI never runs
it: the .safetensors file is committed. The diffusers commit goes into the file's metadata; give
it with --diffusers-commit or $DIFFUSERS_COMMIT when DIR is not a git work tree (e.g. an
extracted `git archive`). Example:

  git --git-dir=<diffusers.git> archive HEAD src/diffusers | tar -x -C /tmp/diffusers-src
  python3 scripts/make_dpm_solver_golden.py --diffusers-src /tmp/diffusers-src \\
      --diffusers-commit $(git --git-dir=<diffusers.git> rev-parse HEAD)

Scheduler: num_train_timesteps 1000, trained_betas = ddpm4j's linear or cosine betas (float64;
diffusers rounds them to float32), solver_order 2, epsilon prediction, midpoint, lower_order_final,
final_sigmas_type "zero", timestep_spacing "linspace", diffusers' defaults otherwise. The loop is
a diffusers pipeline's: set_timesteps(S); for t in timesteps: eps = model(x, t);
x = step(eps, t, x, variance_noise=z).prev_sample. For the SDE case (sde-dpmsolver++) z is
ddpm4j's noise of the step at t: gaussian_at(seed, SAMPLE_STEP_STREAM0 + t, idx) with
idx = first_index*per .. (first_index+n)*per, as make_feature_goldens.ddim_run.

Per case NAME the file holds NAME.x_T, NAME.timesteps (int32, diffusers'), NAME.args (int64
[steps, seed, first_index]), NAME.x{i} (x after step i, float32), NAME.orders (int32, the solver
order diffusers used at each step) and NAME.sigmas (float32, diffusers' sigmas incl. the final 0);
plus the model's state_dict and the metadata of ddim_tiny.safetensors (cfg, batch, torch) with
diffusers_commit, diffusers_version, cases (name:algorithm_type:prediction:order, comma-separated)
and karras_cases (the same for the cases run with use_karras_sigmas=True; their NAME.sigmas are the
Karras levels).
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_feature_goldens import (SAMPLE_STEP_STREAM0, SAMPLING_CFG, cosine_alphas_cumprod,  # noqa: E402
                                  gaussian_at, linear_alphas_cumprod, sampling_model, save)

# name: (schedule, algorithm_type, steps, seed, first_index, prediction_type, solver_order)
CASES = {
    "linear_20": ("linear", "dpmsolver++", 20, 0, 0, "epsilon", 2),
    "linear_8": ("linear", "dpmsolver++", 8, 0, 0, "epsilon", 2),
    "cosine_12": ("cosine", "dpmsolver++", 12, 0, 0, "epsilon", 2),
    "linear_10_sde": ("linear", "sde-dpmsolver++", 10, 1234, 7, "epsilon", 2),
    # the same network read as a v-prediction model (diffusers' prediction_type "v_prediction")
    "linear_10_v": ("linear", "dpmsolver++", 10, 0, 0, "v_prediction", 2),
    # third order (3M; diffusers recommends it for unconditional sampling): at 20 steps, and at 10
    # (under 15 steps the second-to-last step is second order, lower_order_second)
    "linear_20_3m": ("linear", "dpmsolver++", 20, 0, 0, "epsilon", 3),
    "linear_10_3m": ("linear", "dpmsolver++", 10, 0, 0, "epsilon", 3),
}
# Karras sigmas (use_karras_sigmas=True, "DPM++ 2M Karras"): the same cases with the solver stepping
# between Karras et al.'s noise levels and the model called at their rounded timesteps. At 100 steps
# two of those timesteps are the same (1, 1); the SDE case's noise is keyed by the step's index i:
# gaussian_at(seed, SAMPLE_LEVEL_STREAM0 + i, idx) (unet.cpp: sample_level_stream).
KARRAS_CASES = {
    "karras_20": ("linear", "dpmsolver++", 20, 0, 0, "epsilon", 2),
    "karras_100": ("linear", "dpmsolver++", 100, 0, 0, "epsilon", 2),
    "karras_10_sde": ("linear", "sde-dpmsolver++", 10, 1234, 7, "epsilon", 2),
    "karras_12_3m": ("linear", "dpmsolver++", 12, 0, 0, "epsilon", 3),
}
SAMPLE_LEVEL_STREAM0 = (1 << 63) + (1 << 32)


def import_diffusers(src):
    """The diffusers package of the source tree src (put first on sys.path), and its version."""
    if src is None:
        sys.exit("give the diffusers source tree with --diffusers-src DIR or $DIFFUSERS_SRC")
    src = os.path.abspath(src)
    root = os.path.join(src, "src") if os.path.isdir(os.path.join(src, "src", "diffusers")) else src
    if not os.path.isdir(os.path.join(root, "diffusers")):
        sys.exit(f"no diffusers package under {src}")
    sys.path.insert(0, root)
    import diffusers
    print(f"diffusers {diffusers.__version__} from {os.path.dirname(diffusers.__file__)}")
    return diffusers, diffusers.__version__


def import_scheduler(src):
    _, version = import_diffusers(src)
    from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
    return DPMSolverMultistepScheduler, version


def diffusers_commit(src, given):
    if given:
        return given
    try:
        return subprocess.check_output(["git", "-C", src, "rev-parse", "HEAD"], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"{src} is not a git work tree: give the diffusers commit with --diffusers-commit "
                 "or $DIFFUSERS_COMMIT")


def record_orders(sched):
    """Wraps the instance's update methods so that each step records the order it used."""
    orders = []
    for order, name in ((1, "dpm_solver_first_order_update"), (2, "multistep_dpm_solver_second_order_update"),
                        (3, "multistep_dpm_solver_third_order_update")):
        method = getattr(sched, name)

        def wrapped(*a, _order=order, _method=method, **k):
            orders.append(_order)
            return _method(*a, **k)
        setattr(sched, name, wrapped)
    return orders


def run_case(Scheduler, model, x, betas, algorithm_type, steps, seed, first_index, prediction, order, print_config,
             karras=False):
    sched = Scheduler(num_train_timesteps=len(betas), trained_betas=betas, solver_order=order,
                      prediction_type=prediction, algorithm_type=algorithm_type, solver_type="midpoint",
                      lower_order_final=True, final_sigmas_type="zero", timestep_spacing="linspace",
                      use_karras_sigmas=karras)
    if print_config:
        print("scheduler config (trained_betas per case):")
        for k, v in sched.config.items():
            if k != "trained_betas":
                print(f"  {k} = {v!r}")
    sched.set_timesteps(steps)
    orders = record_orders(sched)
    n, per = x.shape[0], x[0].numel()
    sde = algorithm_type.startswith("sde-")
    xs = []
    for i, t in enumerate(sched.timesteps):
        with torch.no_grad():
            eps = model(x, torch.full((n,), int(t), dtype=torch.long))
        z = None
        if sde:
            idx = np.arange(first_index * per, (first_index + n) * per, dtype=np.uint64)
            stream = SAMPLE_LEVEL_STREAM0 + i if karras else SAMPLE_STEP_STREAM0 + int(t)
            z = torch.from_numpy(gaussian_at(seed, stream, idx)).reshape(x.shape)
        x = sched.step(eps, t, x, variance_noise=z).prev_sample
        assert x.dtype == torch.float32
        xs.append(x.clone())
    assert len(orders) == len(xs)
    return sched.timesteps.clone(), sched.sigmas.clone(), orders, xs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--diffusers-src", default=os.environ.get("DIFFUSERS_SRC"))
    ap.add_argument("--diffusers-commit", default=os.environ.get("DIFFUSERS_COMMIT"))
    args = ap.parse_args()
    Scheduler, version = import_scheduler(args.diffusers_src)
    commit = diffusers_commit(os.path.abspath(args.diffusers_src), args.diffusers_commit)
    print(f"diffusers commit {commit}")

    cfg = SAMPLING_CFG
    model, out = sampling_model()
    n = 3
    cases = [(name, c, False) for name, c in CASES.items()] + [(name, c, True) for name, c in KARRAS_CASES.items()]
    for i, (name, (schedule, algorithm, steps, seed, first, prediction, order), karras) in enumerate(cases):
        betas, _ = (linear_alphas_cumprod if schedule == "linear" else cosine_alphas_cumprod)(cfg["timesteps"])
        x = torch.randn(n, cfg["in_channels"], cfg["height"], cfg["width"])
        ts, sigmas, orders, xs = run_case(Scheduler, model, x, np.asarray(betas, dtype=np.float64), algorithm,
                                          steps, seed, first, prediction, order, print_config=(i == 0),
                                          karras=karras)
        print(f"{name} ({schedule}, {algorithm}, {prediction}, {steps} steps, seed {seed}, first_index {first}):")
        print(f"  timesteps {ts.tolist()}")
        print(f"  orders    {orders}")
        out[f"{name}.x_T"] = x
        out[f"{name}.timesteps"] = ts.to(torch.int32)
        out[f"{name}.args"] = torch.tensor([steps, seed, first], dtype=torch.int64)
        out[f"{name}.orders"] = torch.tensor(orders, dtype=torch.int32)
        out[f"{name}.sigmas"] = sigmas.to(torch.float32)
        for j, v in enumerate(xs):
            out[f"{name}.x{j}"] = v
    meta = {k: str(v) for k, v in cfg.items()}
    meta["batch"] = str(n)
    meta["diffusers_commit"] = commit
    meta["diffusers_version"] = version
    meta["cases"] = ",".join(f"{name}:{c[1]}:{c[5]}:order{c[6]}" for name, c in CASES.items())
    meta["karras_cases"] = ",".join(f"{name}:{c[1]}:{c[5]}:order{c[6]}" for name, c in KARRAS_CASES.items())
    save(out, "dpm_solver_tiny.safetensors", meta)


if __name__ == "__main__":
    main()
