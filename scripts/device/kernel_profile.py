"""Sums an ncu CSV report (rows per kernel launch and metric:
gpu__time_duration.sum, and where collected dram__bytes_read.sum and
dram__bytes_write.sum) by kernel, for one profiled training step:

  ncu --profile-from-start off --clock-control none \\
      --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \\
      --csv --print-units base --log-file step.csv  PROGRAM ...
  python3 kernel_profile.py step.csv [--label NAME] [--top N]

PROGRAM brackets the step with cudaProfilerStart/Stop (cuda_check --kernels;
benchmarks/pytorch_ddpm_bench.py --profile-step). Each kernel ran alone under
ncu (caches flushed before each), so the total is the step's GPU time
without launch gaps or overlap, and the DRAM bytes are each kernel's own
traffic. Prints a table (total, count, share, GB moved and GB/s where
known, kernel) and one JSON line with the total and the time (ms_*) and
DRAM traffic (gb_*) of each class: convolution (cuDNN/CUTLASS kernels),
batchnorm, sums (bias gradients, partial sums), layout (filter and
activation conversions, copies), gemm (cuBLAS), optimizer, other. A
memory-bound class far below the device's bandwidth (H200 4.8 TB/s) is
where its kernels, not its bytes, cost time.
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
    if "small_cin" in n:  # the first layer's own kernels (nhwc_conv_small_cin.cu)
        return "convolution"
    if any(k in n for k in ("xmma", "implicit", "conv", "dgrad", "wgrad", "fprop", "cudnn", "cutlass", "sm90_", "sm80_")):
        if "gemv" not in n and "cublas" not in n and "conv1x1_narrow" not in n:
            return "convolution"
    if any(k in n for k in ("batchnorm", "batch_norm", "bn_", "nhwc_reduce_kernel<8, 1>", "nhwc_reduce_kernel<8, 2>",
                            "nhwc_reduce_kernel<1, 1>", "nhwc_reduce_kernel<1, 2>", "stats", "welford",
                            "bwd_finalize", "eval_finalize")):
        return "batchnorm"
    if any(k in n for k in ("sum_channels", "sum_samples", "column_sum", "nhwc_reduce", "reduce_kernel")):
        return "sums"
    if any(k in n for k in ("krsc", "transpose", "copy")):
        return "layout"
    if any(k in n for k in ("gemm", "cublas", "gemv")):
        return "gemm"
    if any(k in n for k in ("adam", "multi_tensor", "foreach")):
        return "optimizer"
    if n.startswith("triton_"):  # torch.compile's generated kernels: fused pointwise and reductions
        return "triton"
    return "other"


TIME = "gpu__time_duration.sum"
BYTES = ("dram__bytes_read.sum", "dram__bytes_write.sum")


def scaled(value, unit):
    v = float(value.replace(",", ""))
    return v * {"nsecond": 1, "usecond": 1e3, "msecond": 1e6, "second": 1e9,
                "byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(unit, 1)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--label", default="")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--source", default="each kernel alone, under ncu",
                    help="how the times were taken, for the header (torch.profiler: in stream)")
    args = ap.parse_args(argv)
    launches = {}  # ID -> [name, ns, bytes or None]
    with open(args.csv, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu prints "==PROF==" lines too
    for r in csv.DictReader(lines):
        metric = r.get("Metric Name")
        if metric != TIME and metric not in BYTES:
            continue
        rec = launches.setdefault(r.get("ID", str(len(launches))), [r["Kernel Name"], None, None])
        v = scaled(r["Metric Value"], r.get("Metric Unit", "nsecond" if metric == TIME else "byte"))
        if metric == TIME:
            rec[1] = v
        else:
            rec[2] = (rec[2] or 0.0) + v
    rows = [rec for rec in launches.values() if rec[1] is not None]
    if not rows:
        print("kernel_profile: no gpu__time_duration rows in", args.csv)
        return 1
    with_bytes = all(rec[2] is not None for rec in rows)
    by = defaultdict(lambda: [0.0, 0, 0.0])
    classes = defaultdict(lambda: [0.0, 0.0])
    for name, ns, nbytes in rows:
        k = short_name(name)
        by[k][0] += ns
        by[k][1] += 1
        by[k][2] += nbytes or 0.0
        classes[kernel_class(name)][0] += ns
        classes[kernel_class(name)][1] += nbytes or 0.0
    total = sum(rec[1] for rec in rows)
    print("== %s: %d kernels, %.3f ms of GPU time (%s)" % (args.label, len(rows), total / 1e6, args.source))
    if with_bytes:
        print("%9s %6s %6s %8s %7s  kernel" % ("ms", "calls", "%", "GB", "GB/s"))
    else:
        print("%9s %6s %6s  kernel" % ("ms", "calls", "%"))
    for k, (ns, cnt, nbytes) in sorted(by.items(), key=lambda kv: -kv[1][0])[: args.top]:
        if with_bytes:
            print("%9.3f %6d %6.1f %8.3f %7.0f  %s" % (ns / 1e6, cnt, 100 * ns / total, nbytes / 1e9, nbytes / ns, k))
        else:
            print("%9.3f %6d %6.1f  %s" % (ns / 1e6, cnt, 100 * ns / total, k))
    out = {"kernel_profile": args.label, "kernels": len(rows), "gpu_ms": round(total / 1e6, 3)}
    out.update({"ms_" + c: round(v[0] / 1e6, 3) for c, v in sorted(classes.items())})
    if with_bytes:
        out.update({"gb_" + c: round(v[1] / 1e9, 3) for c, v in sorted(classes.items())})
        out["gb_s_" + "batchnorm"] = round(classes["batchnorm"][1] / classes["batchnorm"][0], 1) if classes["batchnorm"][0] else 0
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
