"""Sums an ncu CSV report (one row per kernel launch, metric
gpu__time_duration.sum) by kernel, for one profiled training step:

  ncu --profile-from-start off --clock-control none --metrics gpu__time_duration.sum \\
      --csv --print-units base --log-file step.csv  PROGRAM ...
  python3 kernel_profile.py step.csv [--label NAME] [--top N]

PROGRAM brackets the step with cudaProfilerStart/Stop (cuda_check --kernels;
benchmarks/pytorch_ddpm_bench.py --profile-step). Each kernel ran alone under
ncu, so the total is the step's GPU time without launch gaps or overlap.
Prints a table (total, count, share, kernel) and one JSON line with the
total and the time of each class: convolution (cuDNN/CUTLASS kernels),
batchnorm, sums (bias gradients, partial sums), layout (filter and
activation conversions, copies), gemm (cuBLAS), optimizer, other.
"""
import argparse
import csv
import json
import re
import sys
from collections import defaultdict


def short_name(name):
    # "void ns::kernel<8, 2>(const bf16*, ...)" -> "kernel<8, 2>"
    name = name.strip()
    if name.endswith(")"):  # drop the parameter list: from its matching "(" on
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    name = name.replace("(anonymous namespace)::", "")
    name = re.sub(r"^void\s+", "", name)
    name = re.sub(r"\b[a-zA-Z_][a-zA-Z0-9_]*::", "", name)
    return name[:110]


def kernel_class(name):
    n = name.lower()
    if any(k in n for k in ("xmma", "implicit", "conv", "dgrad", "wgrad", "fprop", "cudnn", "cutlass", "sm90_", "sm80_")):
        if "gemv" not in n and "cublas" not in n and "conv1x1_narrow" not in n:
            return "convolution"
    if any(k in n for k in ("batchnorm", "batch_norm", "bn_", "nhwc_reduce_kernel<8, 1>", "nhwc_reduce_kernel<8, 2>",
                            "nhwc_reduce_kernel<1, 1>", "nhwc_reduce_kernel<1, 2>", "stats", "welford",
                            "bwd_finalize", "bwd_prepare")):
        return "batchnorm"
    if any(k in n for k in ("fold_partials", "sum_channels", "sum_samples", "column_sum", "nhwc_reduce", "reduce_kernel")):
        return "sums"
    if any(k in n for k in ("krsc", "transpose", "copy")):
        return "layout"
    if any(k in n for k in ("gemm", "cublas", "gemv")):
        return "gemm"
    if any(k in n for k in ("adam", "multi_tensor", "foreach")):
        return "optimizer"
    return "other"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--label", default="")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args(argv)
    rows = []
    with open(args.csv, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu prints "==PROF==" lines too
    for r in csv.DictReader(lines):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        v = float(r["Metric Value"].replace(",", ""))
        unit = r.get("Metric Unit", "nsecond")
        ns = v * {"nsecond": 1, "usecond": 1e3, "msecond": 1e6, "second": 1e9}.get(unit, 1)
        rows.append((r["Kernel Name"], ns))
    if not rows:
        print("kernel_profile: no gpu__time_duration rows in", args.csv)
        return 1
    by = defaultdict(lambda: [0.0, 0])
    classes = defaultdict(float)
    for name, ns in rows:
        k = short_name(name)
        by[k][0] += ns
        by[k][1] += 1
        classes[kernel_class(name)] += ns
    total = sum(ns for _, ns in rows)
    print("== %s: %d kernels, %.3f ms of GPU time (each kernel alone, under ncu)" % (args.label, len(rows), total / 1e6))
    print("%9s %6s %6s  kernel" % ("ms", "calls", "%"))
    for k, (ns, cnt) in sorted(by.items(), key=lambda kv: -kv[1][0])[: args.top]:
        print("%9.3f %6d %6.1f  %s" % (ns / 1e6, cnt, 100 * ns / total, k))
    out = {"kernel_profile": args.label, "kernels": len(rows), "gpu_ms": round(total / 1e6, 3)}
    out.update({"ms_" + c: round(v / 1e6, 3) for c, v in sorted(classes.items())})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
