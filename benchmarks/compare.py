#!/usr/bin/env python3
"""ddpm4j vs PyTorch on the same model, batch and threads, in one invocation.

Runs `ddpm bench` (ours, in one or more precisions) and
benchmarks/pytorch_ddpm_bench.py (one or more PyTorch variants) in turn,
--repeats times, so all see the same machine state; prints each run as it comes
with the 1-minute load average before it and, at the end, a table of median
img/s and GFLOP/s (on the CPU also as a fraction of the host's measured matmul
peak in that precision) and the median over repeats of the per-repeat ratio
ours/PyTorch, for the training step and the sampling forward pass.

  # this CPU machine: the seed model, batch 32, both cores
  python3 benchmarks/compare.py --device cpu --threads 2 --batch 32 --preset seed
  # a GPU: ours with TF32 vs PyTorch eager fp32+TF32 and bf16 autocast + channels_last
  python3 benchmarks/compare.py --device cuda --batch 512 --preset seed --peak-tflops 989
  # ours in bf16 (bf16 NHWC activations, float32 master weights) against the same PyTorch variants
  python3 benchmarks/compare.py --device cuda --batch 512 --preset seed --precision bf16 --peak-tflops 989
  # a distribution's launcher instead of ./ddpm, raw JSON lines kept
  python3 benchmarks/compare.py --ddpm dist/ddpm4j-0.1.0/bin/ddpm --device cuda --out gpu.jsonl
  # ours also with an experimental setting, in the same rounds
  python3 benchmarks/compare.py --device cuda --precision bf16 --ours-env DDPM_CUDA_ASYNC_WGRAD=1

Model flags are those of `ddpm bench` (--preset seed|tiny, --base-width,
--depth, --image-size, --channels) and are passed to both sides.
Ours (--precision): on CUDA one precision, tf32 unless --no-tf32 (then fp32)
or --precision says otherwise; on the CPU every precision the host runs
(fp32, and bf16 where the CPU has AVX512_BF16) unless --precision picks one.
On CUDA, TF32 is allowed on the PyTorch side too (--tf32) unless --no-tf32.
PyTorch variants (--variants, comma-separated):
  eager            fp32 (IEEE on CUDA)
  eager-cl         fp32, model and input channels_last
  eager-tf32       fp32 with TF32 matmuls/convolutions
  bf16             bf16 autocast
  bf16-cl          bf16 autocast + channels_last (+ TF32)
  compile-tf32     torch.compile, fp32 with TF32
  compile-cl       torch.compile, fp32, channels_last (the CPU's strongest fp32)
  compile-bf16-cl  torch.compile, bf16 autocast + channels_last (+ TF32)
  compile-ro-bf16-cl  torch.compile(mode="reduce-overhead": CUDA graphs), bf16
                   autocast + channels_last + Adam(fused=True) (+ TF32): the
                   fastest PyTorch configuration of this model on a GPU
Defaults: eager,eager-cl,bf16 on the CPU; eager-tf32,bf16-cl,compile-ro-bf16-cl
on CUDA (the compiled variant compiles in every repeat: minutes on a GPU).
On the CPU the host's instruction sets are printed with every result, and the
matmul peak (a 2048x2048 product at the same thread count, fp32 and bf16) is
measured once before the runs (--no-matmul-peak skips it).
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
    "eager-cl": ["--channels-last"],
    "eager-tf32": ["--tf32"],
    "bf16": ["--bf16"],
    "bf16-cl": ["--tf32", "--bf16", "--channels-last"],
    "compile-tf32": ["--tf32", "--compile"],
    "compile-cl": ["--channels-last", "--compile"],
    "compile-bf16-cl": ["--tf32", "--bf16", "--channels-last", "--compile"],
    "compile-ro-bf16-cl": ["--tf32", "--bf16", "--channels-last", "--compile", "reduce-overhead", "--fused-adam"],
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
                    help="ours with this --precision only (default: CUDA tf32, or fp32 with --no-tf32; "
                         "CPU fp32, and bf16 where the CPU has AVX512_BF16)")
    ap.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s: also report the fraction reached")
    ap.add_argument("--no-matmul-peak", action="store_true",
                    help="CPU: do not measure the host's matmul peak (no fractions of it reported)")
    ap.add_argument("--ddpm-args", default="", help="extra arguments for `ddpm bench` (one string)")
    ap.add_argument("--ours-env", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                    help="also run ours with these environment settings (repeatable: one extra run of ours each, "
                         "e.g. DDPM_CUDA_ASYNC_WGRAD=1), in the same rounds as the others")
    ap.add_argument("--torch-args", default="", help="extra arguments for the PyTorch script (one string)")
    ap.add_argument("--out", help="write the raw JSON lines, one per run, to this file")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run (default 3600)")
    ap.add_argument("--no-ours", action="store_true", help="PyTorch variants only (e.g. where Java is missing)")
    ap.add_argument("--isa", choices=("avx2", "generic"),
                    help="CPU: run both sides as on a host with at most this instruction set (ours through "
                         "DDPM_CPU_ISA; PyTorch's ATen, inductor and oneDNN through ATEN_CPU_CAPABILITY and "
                         "ONEDNN_MAX_CPU_ISA), e.g. to measure an AVX2-only host's case on an AVX-512 machine")
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


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_isa():
    """One line naming the CPU and the SIMD instruction sets the kernels (ours and oneDNN's) can use."""
    model, family, number = "", "", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and not model:
                    model = value
                elif key == "cpu family" and not family:
                    family = value
                elif key == "model" and not number:
                    number = value
    except OSError:
        pass
    flags = cpu_flags()
    isa = [name for flag, name in (("avx2", "AVX2"), ("fma", "FMA")) if flag in flags]
    avx512 = [name for flag, name in (("avx512f", "F"), ("avx512bw", "BW"), ("avx512vl", "VL"),
                                      ("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16")) if flag in flags]
    if avx512:
        isa.append("AVX-512 (%s)" % " ".join(avx512))
    isa += [name for flag, name in (("amx_bf16", "AMX-BF16"),) if flag in flags]
    where = "%s (family %s, model %s)" % (model or "CPU", family or "?", number or "?")
    return "%s, %s" % (where, " ".join(isa) if isa else "no AVX2")


def ours_precisions(args, cuda):
    """Ours runs in these precisions: one on CUDA; on the CPU each the host supports unless --precision."""
    if args.precision:
        return [args.precision]
    if cuda:
        return ["fp32" if args.no_tf32 else "tf32"]
    return ["fp32", "bf16"] if "avx512_bf16" in cpu_flags() and not args.isa else ["fp32"]


# --isa: the environment that caps each side's kernels.
ISA_ENV = {
    "avx2": {"DDPM_CPU_ISA": "avx2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "generic": {"DDPM_CPU_ISA": "generic", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def env_settings(text):
    """One --ours-env value as a dict ("A=1,B=2" -> {A: 1, B: 2})."""
    settings = {}
    for item in text.split(","):
        name, eq, value = item.strip().partition("=")
        if not eq or not name:
            sys.exit("compare: --ours-env wants NAME=VALUE[,NAME=VALUE...], got '%s'" % item)
        settings[name] = value
    return settings


def run_env(args, settings=None):
    """The environment of a run (the caller's, plus --isa's caps, plus the run's --ours-env settings)."""
    env = dict(os.environ)
    if args.isa:
        env.update(ISA_ENV[args.isa])
    env.update(settings or {})
    return env


def commands(args, device):
    """(ours: [(label, cmd)], pytorch: [(variant, cmd)], {label: the --ours-env settings of that run})."""
    cuda = device.startswith("cuda")
    batch = args.batch or (512 if cuda else 32)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    iters = args.iters if args.iters is not None else (50 if cuda else 5)
    common = model_flags(args) + ["--batch", str(batch), "--threads", str(args.threads)]
    ours, settings = [], {}
    for precision in ours_precisions(args, cuda):
        cmd = [args.ddpm, "bench", "--device", "cuda" if cuda else "cpu"] + common + \
              ["--warmup", str(warmup), "--iters", str(iters), "--precision", precision] + shlex.split(args.ddpm_args)
        ours.append(("ours " + precision, cmd))
        for text in args.ours_env:
            label = "ours %s [%s]" % (precision, text)
            ours.append((label, cmd))
            settings[label] = env_settings(text)
    names = args.variants.split(",") if args.variants else (["eager-tf32", "bf16-cl", "compile-ro-bf16-cl"] if cuda else
                                                            ["eager", "eager-cl", "bf16"])
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
        torch_cmds.append(("pytorch " + name, cmd))
    return ours, torch_cmds, settings


def matmul_peak_cmd(args, device):
    return [args.python, args.torch_script, "--device", device, "--threads", str(args.threads), "--matmul-peak"]


def run_json(cmd, timeout, env=None):
    """Runs cmd; returns (the last JSON line of its stdout as a dict, that line)."""
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
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


def run_precision(row):
    """The precision a run computes in: ours from `ddpm bench`, PyTorch's from its variant."""
    if "precision" in row:
        return row["precision"]
    return "bf16" if row.get("bf16") else "fp32"


def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args)
    cuda = device.startswith("cuda")
    ours_cmds, torch_cmds, settings = commands(args, device)
    if args.no_ours:
        ours_cmds = []
    runs = ours_cmds + torch_cmds
    # Under --isa the host's peak is not the capped kernels' (and PyTorch's bf16 matmul crawls without AVX-512).
    want_peak = not cuda and not args.no_matmul_peak and not args.isa
    if args.dry_run:
        if args.isa:
            print("environment: " + " ".join("%s=%s" % kv for kv in ISA_ENV[args.isa].items()))
        if want_peak:
            print(shlex.join(matmul_peak_cmd(args, device)))
        for label, c in runs:
            extra = settings.get(label, {})
            print(" ".join("%s=%s" % kv for kv in extra.items()) + (" " if extra else "") + shlex.join(c))
        return
    out = open(args.out, "w") if args.out else None

    def keep(line):
        if out:
            out.write(line + "\n")
            out.flush()

    isa = None if cuda else host_isa()
    if isa and args.isa:
        isa += "; both sides capped to %s (%s)" % (args.isa, ", ".join("%s=%s" % kv for kv in ISA_ENV[args.isa].items()))
    print("compare: device %s, %d repeats%s" % (device, args.repeats, "; host " + isa if isa else ""), flush=True)
    for label, cmd in ours_cmds:
        print("  %s: %s" % (label, shlex.join(cmd)), flush=True)
    peak = {}
    if want_peak:
        load = load_note()
        row, line = run_json(matmul_peak_cmd(args, device), args.timeout, run_env(args))
        keep(line)
        peak = row.get("matmul_gflops", {})
        print("matmul peak (2048x2048, %s threads): fp32 %s GFLOP/s, bf16 %s GFLOP/s (%s)"
              % (row.get("threads"), fmt(peak.get("fp32")), fmt(peak.get("bf16")), load), flush=True)
    results = {label: [] for label, _ in runs}
    width = max(20, max(len(label) for label, _ in runs))
    gflop_train = gflop_fwd = None
    for r in range(1, args.repeats + 1):
        for label, cmd in runs:
            load = load_note()
            row, line = run_json(cmd, args.timeout, run_env(args, settings.get(label)))
            row["label"] = label
            line = json.dumps(row)
            results[label].append(row)
            keep(line)
            if row.get("gflop_train_per_image"):
                gflop_train, gflop_fwd = row["gflop_train_per_image"], row["gflop_forward_per_image"]
            print("[%d/%d] %-*s train %9s img/s  forward %9s img/s  (%s, %s threads%s)"
                  % (r, args.repeats, width, label, fmt(row.get("train_img_per_s")), fmt(row.get("forward_img_per_s")),
                     row.get("device"), row.get("threads"), ", " + load if load else ""), flush=True)
            base = results[runs[0][0]][-1]
            diff = [k for k in MODEL_FIELDS if str(row.get(k)) != str(base.get(k))]
            if diff:
                print("  WARNING: %s differ from %s: %s vs %s" % (", ".join(diff), runs[0][0],
                                                                  [row.get(k) for k in diff],
                                                                  [base.get(k) for k in diff]), flush=True)
    if out:
        out.close()

    def med(rows, key):
        vals = [x.get(key) for x in rows if x.get(key)]
        return statistics.median(vals) if vals else None

    def med_ratio(key, a, b):
        vals = [ratio(x.get(key), y.get(key)) for x, y in zip(results[a], results[b])]
        vals = [v for v in vals if v]
        return statistics.median(vals) if vals else None

    first = results[runs[0][0]][0]
    print()
    print("median of %d repeats: %s, batch %s, image %s, base width %s, depth %s, threads %s"
          % (args.repeats, first.get("device"), first.get("batch"), first.get("image"), first.get("base_width"),
             first.get("depth"), first.get("threads")))
    if isa:
        print("host: " + isa)
    unit, scale = ("TFLOP/s", 1e3) if cuda else ("GFLOP/s", 1.0)
    header = "%-*s %12s %14s" % (width, "run", "train img/s", "forward img/s")
    if gflop_train:
        header += " %16s %18s" % ("train " + unit, "forward " + unit)
        if args.peak_tflops or peak:
            header += " %11s %13s" % ("train peak", "forward peak")
    print(header)
    for label, _ in runs:
        rows = results[label]
        tr, fw = med(rows, "train_img_per_s"), med(rows, "forward_img_per_s")
        line = "%-*s %12s %14s" % (width, label, fmt(tr), fmt(fw))
        if gflop_train:
            tf = tr * gflop_train / scale if tr else None
            ff = fw * gflop_fwd / scale if fw else None
            line += " %16s %18s" % (fmt(tf, "%.2f" if cuda else "%.1f"), fmt(ff, "%.2f" if cuda else "%.1f"))
            # The peak in this run's precision: --peak-tflops, or the host's measured matmul peak.
            p = args.peak_tflops or peak.get(run_precision(rows[0]))
            if p:
                line += " %11s %13s" % (fmt(100 * tf / p if tf else None, "%.1f%%"),
                                        fmt(100 * ff / p if ff else None, "%.1f%%"))
        print(line)
    if gflop_train:
        print("(model cost: %.3f GFLOP forward, %.3f GFLOP per training image%s)"
              % (gflop_fwd, gflop_train, "; peaks: the 2048x2048 matmul in the run's precision" if peak else ""))
    if ours_cmds and torch_cmds:
        print()
        print("%-*s %-22s %14s %16s" % (width, "ours", "/ pytorch", "train ratio", "forward ratio"))
        for a, _ in ours_cmds:
            for b, _ in torch_cmds:
                print("%-*s %-22s %14s %16s" % (width, a, "/ " + b, fmt(med_ratio("train_img_per_s", a, b), "%.2fx"),
                                                 fmt(med_ratio("forward_img_per_s", a, b), "%.2fx")))
    if args.out:
        print("raw JSON lines: " + args.out)


if __name__ == "__main__":
    main()
