#!/usr/bin/env python3
"""ddpm4j vs PyTorch on the same model, batch and threads, in one invocation.

Runs `ddpm bench` (ours) and benchmarks/pytorch_ddpm_bench.py (one or more
PyTorch variants) in turn, --repeats times, so both see the same machine state;
prints each pair as it comes and, at the end, a table of median img/s and the
median over repeats of the per-repeat ratio ours/PyTorch, for the training step
and the sampling forward pass.

  # this CPU machine: the seed model, batch 32, both cores
  python3 benchmarks/compare.py --device cpu --threads 2 --batch 32 --preset seed
  # a GPU: ours with TF32 vs PyTorch eager fp32+TF32 and bf16 autocast + channels_last
  python3 benchmarks/compare.py --device cuda --batch 512 --preset seed --peak-tflops 989
  # ours in bf16 (bf16 NHWC activations, float32 master weights) against the same PyTorch variants
  python3 benchmarks/compare.py --device cuda --batch 512 --preset seed --precision bf16 --peak-tflops 989
  # a distribution's launcher instead of ./ddpm, raw JSON lines kept
  python3 benchmarks/compare.py --ddpm dist/ddpm4j-0.1.0/bin/ddpm --device cuda --out gpu.jsonl

Model flags are those of `ddpm bench` (--preset seed|tiny, --base-width,
--depth, --image-size, --channels) and are passed to both sides. On CUDA, TF32
is allowed on both sides (ours --tf32, PyTorch --tf32) unless --no-tf32;
--precision bf16 runs ours with bf16 activations (`ddpm bench --precision bf16`).
PyTorch variants (--variants, comma-separated):
  eager            fp32 (IEEE on CUDA)
  eager-tf32       fp32 with TF32 matmuls/convolutions
  bf16-cl          bf16 autocast + channels_last (+ TF32)
  compile-tf32     torch.compile, fp32 with TF32
  compile-bf16-cl  torch.compile, bf16 autocast + channels_last (+ TF32)
Defaults: eager on the CPU; eager-tf32,bf16-cl on CUDA.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

VARIANTS = {
    "eager": [],
    "eager-tf32": ["--tf32"],
    "bf16-cl": ["--tf32", "--bf16", "--channels-last"],
    "compile-tf32": ["--tf32", "--compile"],
    "compile-bf16-cl": ["--tf32", "--bf16", "--channels-last", "--compile"],
}
MODEL_FIELDS = ("batch", "image", "base_width", "depth")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ddpm", default=os.path.join(ROOT, "ddpm"), help="ddpm launcher (default: the repository's ./ddpm)")
    ap.add_argument("--python", default=sys.executable, help="Python with PyTorch (default: this one)")
    ap.add_argument("--torch-script", default=os.path.join(HERE, "pytorch_ddpm_bench.py"))
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (CUDA when PyTorch sees a GPU)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for both, 0 = all cores")
    ap.add_argument("--batch", type=int, help="batch size (default 32 on the CPU, 512 on CUDA)")
    ap.add_argument("--preset", choices=("seed", "tiny"), default="seed")
    ap.add_argument("--base-width", type=int)
    ap.add_argument("--depth", type=int)
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--channels", type=int)
    ap.add_argument("--repeats", type=int, default=3, help="rounds of (ours, each PyTorch variant) (default 3)")
    ap.add_argument("--warmup", type=int, help="untimed steps per run, both sides (default 2 CPU, 10 CUDA; >= 20 compiled)")
    ap.add_argument("--iters", type=int, help="timed steps per run, both sides (default 5 CPU, 50 CUDA)")
    ap.add_argument("--variants", help="PyTorch variants, comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--no-tf32", action="store_true", help="CUDA: IEEE fp32 on both sides")
    ap.add_argument("--precision", choices=("fp32", "tf32", "bf16"),
                    help="CUDA: ours with this --precision (default tf32, or fp32 with --no-tf32)")
    ap.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s: also report the fraction reached")
    ap.add_argument("--ddpm-args", default="", help="extra arguments for `ddpm bench` (one string)")
    ap.add_argument("--torch-args", default="", help="extra arguments for the PyTorch script (one string)")
    ap.add_argument("--out", help="write the raw JSON lines, one per run, to this file")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run (default 3600)")
    ap.add_argument("--no-ours", action="store_true", help="PyTorch variants only (e.g. where Java is missing)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    return ap.parse_args(argv)


def resolve_device(args):
    if args.device != "auto":
        return args.device
    try:
        out = subprocess.run([args.python, "-c", "import torch; print(torch.cuda.is_available())"],
                             capture_output=True, text=True, timeout=300)
        return "cuda" if out.stdout.strip().endswith("True") else "cpu"
    except (OSError, subprocess.SubprocessError):
        return "cpu"


def model_flags(args):
    f = ["--preset", args.preset]
    for flag, v in (("--base-width", args.base_width), ("--depth", args.depth),
                    ("--image-size", args.image_size), ("--channels", args.channels)):
        if v is not None:
            f += [flag, str(v)]
    return f


def commands(args, device):
    cuda = device.startswith("cuda")
    batch = args.batch or (512 if cuda else 32)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    iters = args.iters if args.iters is not None else (50 if cuda else 5)
    common = model_flags(args) + ["--batch", str(batch), "--threads", str(args.threads)]
    ours = [args.ddpm, "bench", "--device", "cuda" if cuda else "cpu"] + common + \
           ["--warmup", str(warmup), "--iters", str(iters)]
    if cuda and args.precision:
        ours += ["--precision", args.precision]
    elif cuda and not args.no_tf32:
        ours.append("--tf32")
    ours += shlex.split(args.ddpm_args)
    names = args.variants.split(",") if args.variants else (["eager-tf32", "bf16-cl"] if cuda else ["eager"])
    torch_cmds = []
    for name in names:
        name = name.strip()
        if name not in VARIANTS:
            sys.exit("compare: unknown variant '%s' (known: %s)" % (name, ", ".join(VARIANTS)))
        flags = [f for f in VARIANTS[name] if not (args.no_tf32 and f == "--tf32")]
        if not cuda:
            flags = [f for f in flags if f != "--tf32"]
        w = max(warmup, 20) if "--compile" in flags and args.warmup is None else warmup
        cmd = [args.python, args.torch_script, "--device", device] + common + \
              ["--warmup", str(w), "--iters", str(iters), "--repeats", "1"] + flags
        if args.peak_tflops:
            cmd += ["--peak-tflops", str(args.peak_tflops)]
        cmd += shlex.split(args.torch_args)
        torch_cmds.append((name, cmd))
    return ours, torch_cmds


def run_json(cmd, timeout):
    """Runs cmd; returns (the last JSON line of its stdout as a dict, that line)."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit("compare: timed out after %.0f s: %s" % (timeout, shlex.join(cmd)))
    except OSError as e:
        sys.exit("compare: cannot run %s: %s" % (cmd[0], e))
    lines = [ln for ln in p.stdout.splitlines() if ln.lstrip().startswith("{")]
    if p.returncode != 0 or not lines:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        sys.exit("compare: failed (exit %d) after %.0f s: %s" % (p.returncode, time.time() - t0, shlex.join(cmd)))
    line = lines[-1].strip()
    return json.loads(line), line


def load_note():
    """The 1-minute load average before a run: on a shared machine, numbers taken under load mean little."""
    try:
        return "load %.1f" % os.getloadavg()[0]
    except (AttributeError, OSError):
        return ""


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def ratio(a, b):
    return a / b if a and b else None


def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args)
    ours_cmd, torch_cmds = commands(args, device)
    if args.no_ours:
        ours_cmd = None
    if args.dry_run:
        if ours_cmd:
            print(shlex.join(ours_cmd))
        for _, c in torch_cmds:
            print(shlex.join(c))
        return
    out = open(args.out, "w") if args.out else None
    results = {"ours": []}
    for name, _ in torch_cmds:
        results[name] = []
    print("compare: device %s, %d repeats; ours: %s" % (device, args.repeats, shlex.join(ours_cmd) if ours_cmd else "(skipped)"),
          flush=True)
    gflop_train = gflop_fwd = None
    for r in range(1, args.repeats + 1):
        ours = None
        if ours_cmd:
            load = load_note()
            ours, line = run_json(ours_cmd, args.timeout)
            results["ours"].append(ours)
            if out:
                out.write(line + "\n")
                out.flush()
            print("[%d/%d] ours %-18s train %9s img/s  forward %9s img/s  (%s, %s threads, %s)"
                  % (r, args.repeats, "(" + str(ours.get("backend")) + ")", fmt(ours.get("train_img_per_s")),
                     fmt(ours.get("forward_img_per_s")), ours.get("device"), ours.get("threads"), load), flush=True)
        for name, cmd in torch_cmds:
            load = load_note()
            pt, line = run_json(cmd, args.timeout)
            results[name].append(pt)
            if out:
                out.write(line + "\n")
                out.flush()
            gflop_train, gflop_fwd = pt.get("gflop_train_per_image"), pt.get("gflop_forward_per_image")
            msg = "[%d/%d] pytorch %-15s train %9s img/s  forward %9s img/s" % (
                r, args.repeats, name, fmt(pt.get("train_img_per_s")), fmt(pt.get("forward_img_per_s")))
            if ours:
                msg += "  | ours/pytorch train %sx forward %sx" % (
                    fmt(ratio(ours.get("train_img_per_s"), pt.get("train_img_per_s")), "%.2f"),
                    fmt(ratio(ours.get("forward_img_per_s"), pt.get("forward_img_per_s")), "%.2f"))
                diff = [k for k in MODEL_FIELDS if str(ours.get(k)) != str(pt.get(k))]
                if diff:
                    msg += "  (WARNING: %s differ: ours %s, pytorch %s)" % (
                        ", ".join(diff), [ours.get(k) for k in diff], [pt.get(k) for k in diff])
            msg += "  (%s)" % load if load else ""
            print(msg, flush=True)
    if out:
        out.close()

    def med(rows, key):
        vals = [x.get(key) for x in rows if x.get(key)]
        return statistics.median(vals) if vals else None

    def med_ratio(key, name):
        vals = [ratio(o.get(key), p.get(key)) for o, p in zip(results["ours"], results[name])]
        vals = [v for v in vals if v]
        return statistics.median(vals) if vals else None

    first = (results["ours"] or results[torch_cmds[0][0]])[0]
    print()
    print("median of %d repeats: %s, batch %s, image %s, base width %s, depth %s, threads %s"
          % (args.repeats, first.get("device"), first.get("batch"), first.get("image"), first.get("base_width"),
             first.get("depth"), first.get("threads")))
    header = "%-26s %12s %14s %14s %16s" % ("run", "train img/s", "forward img/s", "ours/pt train", "ours/pt forward")
    if gflop_train:
        header += " %11s %12s" % ("train TF/s", "forward TF/s")
        if args.peak_tflops:
            header += " %10s" % "train peak"
    print(header)
    ours_label = "ours (%s%s)" % (results["ours"][0].get("backend"),
                                  ", " + results["ours"][0]["precision"] if results["ours"] and
                                  results["ours"][0].get("precision") else "") if results["ours"] else ""
    rows = ([(ours_label, "ours")] if results["ours"] else []) + \
           [("pytorch " + name, name) for name, _ in torch_cmds]
    for label, key in rows:
        tr, fw = med(results[key], "train_img_per_s"), med(results[key], "forward_img_per_s")
        rt = "-" if key == "ours" or not results["ours"] else fmt(med_ratio("train_img_per_s", key), "%.2fx")
        rf = "-" if key == "ours" or not results["ours"] else fmt(med_ratio("forward_img_per_s", key), "%.2fx")
        line = "%-26s %12s %14s %14s %16s" % (label, fmt(tr), fmt(fw), rt, rf)
        if gflop_train:
            ttf = tr * gflop_train / 1e3 if tr else None
            ftf = fw * gflop_fwd / 1e3 if fw else None
            line += " %11s %12s" % (fmt(ttf, "%.2f"), fmt(ftf, "%.2f"))
            if args.peak_tflops:
                line += " %10s" % fmt(100 * ttf / args.peak_tflops if ttf else None, "%.1f%%")
        print(line)
    if gflop_train:
        print("(model cost: %.3f GFLOP forward, %.3f GFLOP per training image)" % (gflop_fwd, gflop_train))
    if args.out:
        print("raw JSON lines: " + args.out)


if __name__ == "__main__":
    main()
