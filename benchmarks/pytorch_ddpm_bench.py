#!/usr/bin/env python3
"""PyTorch baseline for ddpm4j: the seed notebook's UNet (scripts/seed_unet.py)
and its DDPM training step, timed as `ddpm bench` times ours, printing ONE JSON
line with the same fields.

  train step : uint8 pixels (host) -> device, x0 = p / 127.5 - 1, t ~ U{0..T-1},
               eps ~ N(0, 1), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,
               loss = mse(unet(x_t, t), eps), backward, Adam step
  forward    : one sampling step as `ddpm bench` times it: model.eval() forward
               under torch.no_grad(), then the ancestral update
               x = c_x(t) x - c_eps(t) eps_hat + sigma_t z (elementwise, cheap)

Each phase: --warmup untimed calls, then --repeats timed runs of --iters calls
(each run also lasting at least --seconds if given), device synchronised around
every timed run; the median run gives img/s.

  python3 benchmarks/pytorch_ddpm_bench.py --threads 2 --batch 32          # CPU, seed model
  python3 benchmarks/pytorch_ddpm_bench.py --device cuda --batch 512 --tf32
  python3 benchmarks/pytorch_ddpm_bench.py --device cuda --batch 512 --tf32 --bf16 --channels-last
  python3 benchmarks/pytorch_ddpm_bench.py --device cuda --batch 512 --compile --peak-tflops 989

With --matmul-peak it only measures the device's 2048x2048 matmul throughput in
float32 and bfloat16 (best of --repeats runs of --iters products, at --threads)
and prints one JSON line {"matmul_gflops": {"fp32": ..., "bf16": ...}, ...}: the
peak compare.py reports each run's GFLOP/s against.

Options mirror `ddpm bench`: --preset seed|tiny (seed: base 64, depth 4; tiny: base 16,
depth 2) and --base-width/--depth/--image-size/--channels (--base and --image also work).
The device is CUDA when one is usable, else the CPU (--device overrides).
TF32 is off unless --tf32 (PyTorch allows it in cuDNN convolutions by default;
here fp32 means IEEE fp32 unless asked). cudnn.benchmark is on for CUDA unless
--no-cudnn-benchmark.
"""
import argparse
import csv
import json
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import seed_unet  # noqa: E402  the reference model, with the notebook's module names

# The reference model, schedule and FLOP count: one definition, in scripts/seed_unet.py.
SeedUNet = seed_unet.SeedUNet
DDPMSchedule = seed_unet.DDPMSchedule
gflops_forward = seed_unet.gflops_forward

# ddpm4j's --preset models (org.ddpm4j.train.Preset): (base width, depth, image size, channels).
PRESETS = {"seed": (64, 4, 32, 3), "tiny": (16, 2, 32, 3)}


def kernel_events(prof):
    """(name, nanoseconds) of each GPU kernel a torch.profiler run saw, in order."""
    out = []
    for e in prof.events():
        if getattr(e, "device_type", None) != torch.autograd.DeviceType.CUDA:
            continue
        out.append((e.name, 1000.0 * float(e.time_range.elapsed_us())))  # a kernel's own span
    return out


def write_kernel_csv(events, path):
    """Kernels as ncu's --csv rows (ID, Kernel Name, gpu__time_duration.sum in nsecond): kernel_profile.py's input."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow(["ID", "Kernel Name", "Metric Name", "Metric Unit", "Metric Value"])
        for i, (name, ns) in enumerate(events):
            w.writerow([i, name, "gpu__time_duration.sum", "nsecond", "%.0f" % ns])
    return len(events)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (CUDA if usable, else CPU), cpu, cuda or cuda:N")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 = all cores (default)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="seed",
                    help="model size; --base-width/--depth/--image-size/--channels override it (default seed)")
    ap.add_argument("--base-width", "--base", dest="base", type=int, help="channels of the first level")
    ap.add_argument("--depth", type=int, help="down/up steps")
    ap.add_argument("--image-size", "--image", dest="image", type=int, help="image height = width")
    ap.add_argument("--channels", type=int, help="image channels")
    ap.add_argument("--time-dim", type=int, default=100)
    ap.add_argument("--timesteps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--bf16", action="store_true", help="torch.autocast(dtype=bfloat16), fp32 master weights")
    ap.add_argument("--channels-last", action="store_true", help="model and input in channels_last")
    ap.add_argument("--compile", nargs="?", const="default", default=None, metavar="MODE",
                    help="torch.compile the model (optional mode: default, reduce-overhead, max-autotune, ...)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in matmuls and cuDNN convolutions (CUDA)")
    ap.add_argument("--fused-adam", action="store_true", help="torch.optim.Adam(fused=True)")
    ap.add_argument("--no-cudnn-benchmark", action="store_true", help="leave torch.backends.cudnn.benchmark off")
    ap.add_argument("--warmup", type=int, help="untimed calls per phase (default 2 on CPU, 10 on CUDA, 20 compiled)")
    ap.add_argument("--iters", type=int, help="calls per timed run (default 3 on CPU, 20 on CUDA)")
    ap.add_argument("--repeats", type=int, help="timed runs per phase, the median is reported (default 3 on CPU, 5 on CUDA)")
    ap.add_argument("--seconds", type=float, default=0.0, help="each timed run also lasts at least this long")
    ap.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s: report the fraction reached")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-forward", action="store_true", help="time the training step only")
    ap.add_argument("--matmul-peak", action="store_true",
                    help="only measure the 2048x2048 matmul GFLOP/s in fp32 and bf16 (see above)")
    ap.add_argument("--verbose", action="store_true", help="progress on stderr")
    ap.add_argument("--profile-step", action="store_true",
                    help="CUDA: after the warm-up, one training step between cudaProfilerStart and Stop (for "
                         "`ncu --profile-from-start off`), then exit")
    ap.add_argument("--torch-profile", metavar="PREFIX",
                    help="CUDA: after the warm-up, one training step and one sampling forward under torch.profiler; "
                         "their kernels' times go to PREFIX-train.csv and PREFIX-forward.csv in the CSV form of ncu "
                         "that scripts/device/kernel_profile.py reads (kernels inside CUDA graphs included), then exit")
    args = ap.parse_args(argv)
    base, depth, image, channels = PRESETS[args.preset]
    args.base = base if args.base is None else args.base
    args.depth = depth if args.depth is None else args.depth
    args.image = image if args.image is None else args.image
    args.channels = channels if args.channels is None else args.channels
    return args


def pick_device(name):
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("pytorch_ddpm_bench: --device %s asked for, but torch %s sees no usable CUDA device"
                     % (name, torch.__version__))
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def set_tf32(on):
    """TF32 in matmuls and cuDNN convolutions: the fp32_precision API where it exists (torch >= 2.9), else allow_tf32."""
    prec = "tf32" if on else "ieee"
    matmul = torch.backends.cuda.matmul
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(matmul, "fp32_precision") and conv is not None and hasattr(conv, "fp32_precision"):
        matmul.fp32_precision = prec
        conv.fp32_precision = prec
    else:
        matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def matmul_peak(dev, warmup, iters, repeats, size=2048):
    """Best GFLOP/s of a size x size matmul in fp32 and bf16 on dev (TF32 off)."""
    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(size, size, device=dev).to(dtype)
        b = torch.randn(size, size, device=dev).to(dtype)
        for _ in range(warmup):
            a @ b
        best = 0.0
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            for _ in range(iters):
                a @ b
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            best = max(best, 2.0 * size ** 3 * iters / (time.perf_counter() - t0) / 1e9)
        out[name] = round(best, 1)
    return out


def variant_name(args):
    parts = ["compile" if args.compile else "eager"]
    if args.compile and args.compile != "default":
        parts[0] += "-" + args.compile
    parts.append("bf16" if args.bf16 else ("fp32-tf32" if args.tf32 else "fp32"))
    if args.channels_last:
        parts.append("cl")
    if args.fused_adam:
        parts.append("fusedadam")
    return "-".join(parts)


def main(argv=None):
    args = parse_args(argv)
    dev = pick_device(args.device)
    cuda = dev.type == "cuda"
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    elif not cuda:
        torch.set_num_threads(os.cpu_count() or 1)
    warmup = args.warmup if args.warmup is not None else ((20 if args.compile else 10) if cuda else (3 if args.compile else 2))
    iters = args.iters if args.iters is not None else (20 if cuda else 3)
    repeats = args.repeats if args.repeats is not None else (5 if cuda else 3)
    if cuda:
        torch.cuda.set_device(dev)
        set_tf32(args.tf32)
        torch.backends.cudnn.benchmark = not args.no_cudnn_benchmark
    if args.matmul_peak:
        print(json.dumps({"backend": "pytorch-" + dev.type, "device": torch.cuda.get_device_name(dev) if cuda else cpu_name(),
                          "threads": torch.get_num_threads(), "torch_version": torch.__version__,
                          "matmul_gflops": matmul_peak(dev, warmup, max(iters, 2), max(repeats, 5))}), flush=True)
        return

    def log(msg):
        if args.verbose:
            print("pytorch_ddpm_bench: " + msg, file=sys.stderr, flush=True)

    torch.manual_seed(args.seed)
    n, c, s, T = args.batch, args.channels, args.image, args.timesteps
    model = SeedUNet(in_channels=c, base=args.base, depth=args.depth, n_steps=T, time_emb_dim=args.time_dim)
    gflop_fwd = gflops_forward(model, c, s, s)  # on the CPU, before moving
    model = model.to(dev)
    mem_format = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trainable, lr=args.lr, fused=True if args.fused_adam else None)
    sched = DDPMSchedule(T, 1e-4, 0.02, device=dev)
    net = torch.compile(model, mode=None if args.compile == "default" else args.compile) if args.compile else model
    autocast = lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=args.bf16)  # noqa: E731

    gen = torch.Generator().manual_seed(args.seed + 1)
    pixels = torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=gen)
    if cuda:
        pixels = pixels.pin_memory()
    last_loss = [None]

    def train_step():
        x0 = pixels.to(dev, non_blocking=True).float().div_(127.5).sub_(1.0)
        t = torch.randint(0, T, (n,), device=dev)
        eps = torch.randn_like(x0)
        xt = sched.add_noise(x0, eps, t).contiguous(memory_format=mem_format)
        with autocast():
            out = net(xt, t)
        loss = F.mse_loss(out.float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last_loss[0] = loss

    x_eval = torch.randn(n, c, s, s, generator=gen).to(dev).contiguous(memory_format=mem_format)

    # One reverse step at a fixed t (the coefficients are host floats, as in ddpm4j).
    t_rev = T // 2
    beta, alpha, abar = (float(v[t_rev]) for v in (sched.betas, sched.alphas, sched.abar))
    c_x, c_eps, sigma = alpha ** -0.5, beta / ((1 - abar) ** 0.5 * alpha ** 0.5), beta ** 0.5
    t_eval = torch.full((n,), t_rev, dtype=torch.long, device=dev)

    def forward():
        with torch.no_grad():
            with autocast():
                eps_hat = net(x_eval, t_eval)
            z = torch.randn_like(x_eval)
            torch.add(x_eval.mul(c_x), eps_hat.float(), alpha=-c_eps).add_(z, alpha=sigma)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    peaks = []
    # CPU seconds per call of every thread of the process (what a loaded machine leaves intact with one thread).
    cpu_times = {}

    def timed(fn, what):
        log("%s: %d warm-up calls" % (what, warmup))
        for _ in range(warmup):
            fn()
        sync()
        if cuda:  # steady-state peak: leave out cudnn.benchmark's trial workspaces and compilation
            torch.cuda.reset_peak_memory_stats(dev)
        runs, cpu_runs = [], []
        for r in range(repeats):
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            k = 0
            while k < iters or (args.seconds > 0 and time.perf_counter() - t0 < args.seconds):
                fn()
                k += 1
            sync()
            runs.append((time.perf_counter() - t0) / k)
            cpu_runs.append((time.process_time() - c0) / k)
            log("%s: run %d: %.2f ms per call" % (what, r + 1, runs[-1] * 1e3))
        if cuda:
            peaks.append(torch.cuda.max_memory_allocated(dev))
        cpu_times[what] = statistics.median(cpu_runs)
        return statistics.median(runs), runs

    model.train()
    if args.torch_profile:
        if not cuda:
            raise SystemExit("pytorch_ddpm_bench: --torch-profile needs CUDA")
        for phase, fn, mode in (("train", train_step, model.train), ("forward", forward, model.eval)):
            mode()
            for _ in range(warmup):
                fn()
            sync()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                fn()
                sync()
            path = "%s-%s.csv" % (args.torch_profile, phase)
            count = write_kernel_csv(kernel_events(prof), path)
            print(json.dumps({"torch_profiled": variant_name(args), "phase": phase, "batch": n, "kernels": count,
                              "csv": path}), flush=True)
        return
    if args.profile_step:
        if not cuda:
            raise SystemExit("pytorch_ddpm_bench: --profile-step needs CUDA")
        for _ in range(warmup):
            train_step()
        sync()
        torch.cuda.cudart().cudaProfilerStart()
        train_step()
        sync()
        torch.cuda.cudart().cudaProfilerStop()
        print(json.dumps({"profiled": variant_name(args), "batch": n}), flush=True)
        return
    train_s, train_runs = timed(train_step, "train")
    loss = float(last_loss[0].detach())
    fwd_s, fwd_runs = None, []
    if not args.skip_forward:
        model.eval()
        fwd_s, fwd_runs = timed(forward, "forward")

    if cuda:
        peak = max(peaks)
        device_name = torch.cuda.get_device_name(dev)
        threads = torch.get_num_threads()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        device_name = cpu_name()
        threads = torch.get_num_threads()

    train_ips = n / train_s
    fwd_ips = n / fwd_s if fwd_s else None
    gflop_train = 3 * gflop_fwd
    out = {
        "backend": "pytorch-" + dev.type,
        "device": device_name,
        "threads": threads,
        "batch": n,
        "image": "%dx%dx%d" % (c, s, s),
        "base_width": args.base,
        "depth": args.depth,
        "train_img_per_s": round(train_ips, 3),
        "forward_img_per_s": round(fwd_ips, 3) if fwd_ips else None,
        "peak_memory_bytes": int(peak),
        "torch_version": torch.__version__,
        "variant": variant_name(args),
        "bf16": args.bf16,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "tf32": args.tf32 if cuda else None,
        "fused_adam": args.fused_adam,
        "cudnn_benchmark": (not args.no_cudnn_benchmark) if cuda else None,
        "channels": c,
        "params": sum(p.numel() for p in trainable),
        "train_step_ms": round(train_s * 1e3, 3),
        "forward_ms": round(fwd_s * 1e3, 3) if fwd_s else None,
        "train_step_cpu_ms": round(cpu_times["train"] * 1e3, 3),
        "forward_cpu_ms": round(cpu_times["forward"] * 1e3, 3) if fwd_s else None,
        "train_runs_ms": [round(x * 1e3, 3) for x in train_runs],
        "forward_runs_ms": [round(x * 1e3, 3) for x in fwd_runs],
        "warmup": warmup,
        "iters": iters,
        "repeats": repeats,
        "last_loss": round(loss, 6),
        "gflop_forward_per_image": round(gflop_fwd, 6),
        "gflop_train_per_image": round(gflop_train, 6),
        "train_tflops": round(train_ips * gflop_train / 1e3, 4),
        "forward_tflops": round(fwd_ips * gflop_fwd / 1e3, 4) if fwd_ips else None,
    }
    if args.peak_tflops:
        out["peak_tflops"] = args.peak_tflops
        out["train_peak_fraction"] = round(out["train_tflops"] / args.peak_tflops, 4)
        out["forward_peak_fraction"] = round(out["forward_tflops"] / args.peak_tflops, 4) if fwd_ips else None
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
