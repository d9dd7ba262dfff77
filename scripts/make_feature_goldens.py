"""Writes the PyTorch golden files of the features beyond the notebook
(issue 12), all small, into native/tests/golden/:

  ema.safetensors          EMA of the weights: ema.lerp_(params, 1 - decay) with the
                           warm-up decay min(D, (1 + u) / (10 + u)) over a few updates
  schedules.safetensors    the cosine schedule (Nichol & Dhariwal 2021, improved-diffusion's
                           betas_for_alpha_bar, betas clipped at 0.999) and the linear one
  ddim_tiny.safetensors    DDIM sampling (Song et al. 2021, eq. 12) of a tiny seed UNet in
                           eval mode: eta 0 on the linear schedule, eta 0.5 on the cosine one
                           (its noise from the same Philox4x32-10 stream as ddpm4j's sampler)
  unet_cond_tiny.safetensors  a tiny class-conditional UNet: train forward, every gradient
                           (the class embedding's too), eval forward, with labels incl. the null class

test_ema.cpp, test_ddim.cpp and test_conditional.cpp check ddpm4j against them.
Run from anywhere: python3 scripts/make_feature_goldens.py (needs torch, numpy, safetensors;
CI does not: the files are committed).
"""
import math
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_unet import SeedUNet  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "native", "tests", "golden")
MASK = np.uint64(0xFFFFFFFF)


# ---- Philox4x32-10 and the gaussians of native/include/ddpm/rng.h -----------------------

def philox(block, stream, seed):
    block = np.asarray(block, dtype=np.uint64)
    c0, c1 = block & MASK, block >> np.uint64(32)
    c2 = np.full_like(c0, np.uint64(stream) & MASK)
    c3 = np.full_like(c0, np.uint64(stream) >> np.uint64(32))
    k0, k1 = np.uint64(seed) & MASK, np.uint64(seed) >> np.uint64(32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & MASK, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & MASK
        k0 = (k0 + np.uint64(0x9E3779B9)) & MASK
        k1 = (k1 + np.uint64(0xBB67AE85)) & MASK
    return np.stack([c0, c1, c2, c3])


def to_unit(v):
    return ((v >> np.uint64(8)).astype(np.float32) + np.float32(0.5)) * np.float32(1.0 / 16777216.0)


def gaussian_at(seed, stream, idx):
    """Element idx (array) of (seed, stream): Box-Muller on lane pairs, in float32 as rng.h."""
    idx = np.asarray(idx, dtype=np.uint64)
    r = philox(idx >> np.uint64(2), stream, seed)
    lane = (idx & np.uint64(3)).astype(np.int64)
    pair = lane >> 1
    cols = np.arange(idx.size)
    u1 = to_unit(r[2 * pair, cols])
    u2 = to_unit(r[2 * pair + 1, cols])
    radius = np.sqrt(np.float32(-2.0) * np.log(u1))
    angle = np.float32(6.283185307179586) * u2
    return np.where(lane & 1, radius * np.sin(angle), radius * np.cos(angle)).astype(np.float32)


SAMPLE_STEP_STREAM0 = (1 << 63) + 1  # unet.cpp: sample_step_stream(t) = 2^63 + 1 + t


# ---- schedules ----------------------------------------------------------------------------

def linear_alphas_cumprod(T, b0=1e-4, b1=0.02):
    """ddpm4j's Schedule::linear: the float32 end points, interpolated in double."""
    lo, hi = float(np.float32(b0)), float(np.float32(b1))
    betas = np.array([lo + (hi - lo) * t / (T - 1) for t in range(T)], dtype=np.float64)
    return betas, np.cumprod(1.0 - betas)


def cosine_alphas_cumprod(T, s=0.008, max_beta=0.999):
    """improved-diffusion's get_named_beta_schedule("cosine", T), then the cumulative product."""
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.array([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)], dtype=np.float64)
    return betas, np.cumprod(1.0 - betas)


def ddim_timesteps(T, S):
    return [i * T // S for i in range(S)][::-1]


# ---- goldens ------------------------------------------------------------------------------

def ema_golden():
    torch.manual_seed(7)
    n, K = 257, 6
    out = {}
    for case, (decay, first) in enumerate([(0.999, 0), (0.999, 2000), (0.9999, 200000)]):
        ema = torch.randn(n)
        params = torch.randn(K, n)
        out[f"case{case}.ema0"] = ema.clone()
        out[f"case{case}.params"] = params.clone()
        for k in range(K):
            u = first + k
            d = min(decay, (1 + u) / (10 + u))
            ema.lerp_(params[k], 1 - d)
            out[f"case{case}.ema{k + 1}"] = ema.clone()
        out[f"case{case}.meta"] = torch.tensor([first, K], dtype=torch.int64)
        out[f"case{case}.decay_ppm"] = torch.tensor([round(decay * 1e6)], dtype=torch.int64)  # decay = ppm / 1e6 exactly
    save(out, "ema.safetensors", {"decays": "0.999@0,0.999@2000,0.9999@200000", "updates": str(K)})


def schedules_golden():
    out = {}
    for T in (1000, 50):
        b, a = cosine_alphas_cumprod(T)
        out[f"cosine{T}.betas"] = torch.tensor(b, dtype=torch.float32)
        out[f"cosine{T}.alphas_cumprod"] = torch.tensor(a, dtype=torch.float32)
    b, a = linear_alphas_cumprod(1000)
    out["linear1000.betas"] = torch.tensor(b, dtype=torch.float32)
    out["linear1000.alphas_cumprod"] = torch.tensor(a, dtype=torch.float32)
    save(out, "schedules.safetensors", {})


def tiny_model(seed, num_classes=0, **cfg):
    torch.manual_seed(seed)
    model = SeedUNet(cfg["in_channels"], cfg["base"], cfg["depth"], cfg["timesteps"], cfg["time_dim"],
                     num_classes=num_classes)
    with torch.no_grad():  # exercise the BatchNorm affine and running statistics too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model


def ddim_run(model, x, alphas_cumprod, steps, eta, seed, first_index):
    """The DDIM paper's update in float64 around the float32 model, as ermongroup/ddim's
    generalized_steps, with ddpm4j's noise for eta > 0."""
    T = len(alphas_cumprod)
    ts = ddim_timesteps(T, steps)
    x = x.double()
    n, per = x.shape[0], x[0].numel()
    xs = []
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        with torch.no_grad():
            eps = model(x.float(), torch.full((n,), t, dtype=torch.long)).double()
        a = float(alphas_cumprod[t])
        ap = float(alphas_cumprod[t_prev]) if t_prev >= 0 else 1.0
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        sigma = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sigma ** 2) * eps
        if sigma > 0:
            idx = np.arange(first_index * per, (first_index + n) * per, dtype=np.uint64)
            z = torch.from_numpy(gaussian_at(seed, SAMPLE_STEP_STREAM0 + t, idx).astype(np.float64))
            x = x + sigma * z.reshape(x.shape)
        xs.append(x.float().clone())
    return ts, xs


SAMPLING_CFG = dict(in_channels=3, base=4, depth=2, height=8, width=8, time_dim=16, timesteps=1000)


def sampling_model():
    """The tiny eval-mode UNet the sampler goldens run (DDIM here, DPM-Solver++ in
    make_dpm_solver_golden.py), its state_dict as the file's first tensors, and the
    generator seeded for the x_T draws that follow."""
    model = tiny_model(4321, **SAMPLING_CFG)
    model.eval()
    torch.manual_seed(99)
    return model, {k: v.clone() for k, v in model.state_dict().items()}


def ddim_golden():
    cfg = SAMPLING_CFG
    model, out = sampling_model()
    n = 3
    for name, (sched, steps, eta, seed, first) in {"linear_eta0": ("linear", 5, 0.0, 0, 0),
                                                   "cosine_eta05": ("cosine", 4, 0.5, 1234, 7)}.items():
        _, a = (linear_alphas_cumprod if sched == "linear" else cosine_alphas_cumprod)(cfg["timesteps"])
        x = torch.randn(n, 3, cfg["height"], cfg["width"])
        ts, xs = ddim_run(model, x, a, steps, eta, seed, first)
        out[f"{name}.x_T"] = x
        out[f"{name}.timesteps"] = torch.tensor(ts, dtype=torch.int32)
        out[f"{name}.args"] = torch.tensor([steps, seed, first], dtype=torch.int64)
        out[f"{name}.eta"] = torch.tensor([eta], dtype=torch.float32)
        for i, v in enumerate(xs):
            out[f"{name}.x{i}"] = v
    meta = {k: str(v) for k, v in cfg.items()}
    meta["batch"] = str(n)
    save(out, "ddim_tiny.safetensors", meta)


def conditional_golden():
    cfg = dict(in_channels=3, base=4, depth=2, height=8, width=6, time_dim=12, timesteps=100, num_classes=3)
    model = tiny_model(2468, num_classes=cfg["num_classes"], **{k: v for k, v in cfg.items() if k != "num_classes"})
    out = {k: v.clone() for k, v in model.state_dict().items()}
    n = 5
    x = torch.randn(n, 3, cfg["height"], cfg["width"], requires_grad=True)
    t = torch.tensor([0, 17, 50, 99, 3], dtype=torch.long)
    y = torch.tensor([2, 0, 3, 2, 1], dtype=torch.long)  # 3 = the null class
    r = torch.randn(n, 3, cfg["height"], cfg["width"])
    model.train()
    o = model(x, t, y)
    (o * r).sum().backward()
    out["input.x"] = x.detach().clone()
    out["input.t"] = t.to(torch.int32)
    out["input.y"] = y.to(torch.int32)
    out["input.r"] = r
    out["output.train"] = o.detach().clone()
    out["grad.x"] = x.grad.clone()
    for name, p in model.named_parameters():
        if p.requires_grad:
            out["grad." + name] = p.grad.clone()
    model.eval()
    with torch.no_grad():
        out["output.eval"] = model(x.detach(), t, y)
        out["output.eval_null"] = model(x.detach(), t)
    meta = {k: str(v) for k, v in cfg.items()}
    meta["batch"] = str(n)
    save(out, "unet_cond_tiny.safetensors", meta)


def save(tensors, name, meta):
    meta = dict(meta)
    meta["torch"] = torch.__version__
    path = os.path.normpath(os.path.join(OUT, name))
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=meta)
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    ema_golden()
    schedules_golden()
    ddim_golden()
    conditional_golden()
