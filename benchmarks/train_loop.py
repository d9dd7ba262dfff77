#!/usr/bin/env python3
"""The training loop against the kernels: `ddpm train` beside `ddpm bench`, same model, batch and threads.

`ddpm bench` times back-to-back training steps on fixed random pixels; `ddpm train` runs the real loop
(data loading, loss reads, progress, checkpoints at every epoch end). The loop's steady-state speed
(steps after warm-up, from run.json) should stay within 10% of the bench, and the img/s the progress line
shows should match images / wall time over the same stretch. Runs alternate ours-bench / ours-train
--repeats times and print one JSON line per pair plus a summary line:

  # CPU (this machine): the tiny preset, 4 epochs of 100 batches of 64 (a checkpoint at each epoch end)
  python3 benchmarks/train_loop.py --device cpu --threads 2 --preset tiny --limit 6400 --epochs 4
  # a GPU: the seed model in bf16, 5 epochs of CIFAR-10's 50,000 images
  python3 benchmarks/train_loop.py --device cuda --preset seed --precision bf16 --epochs 5

Fields: bench_train_img_per_s; loop_epoch_img_per_s (run.json throughput.steady_epoch_images_per_s: the
complete epochs after the first, over their wall time with the checkpoints taken in them: the issue's
"steady-state epoch throughput"); loop_steady_img_per_s (throughput.steady_images_per_s: images of the steps
after warm-up over the time spent in them); loop_wall_img_per_s (images / wall time of the loop,
setup excluded: everything a user waits for while it trains, checkpoints and data waits included);
shown_img_per_s (median of the img/s the progress lines printed once the window was full);
the time breakdown of run.json; steady_over_bench and shown_over_wall.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ddpm", default=os.path.join(ROOT, "ddpm"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--precision", default=None)
    ap.add_argument("--batch", type=int, default=None, help="default: the preset's")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (0 = all 50,000)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--bench-iters", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--keep-runs", action="store_true", help="keep the run folders (printed)")
    a = ap.parse_args(argv)

    common = ["--device", a.device, "--threads", str(a.threads), "--preset", a.preset]
    if a.precision:
        common += ["--precision", a.precision]
    if a.batch:
        common += ["--batch", str(a.batch)]
    rows = []
    for rep in range(a.repeats):
        bench = json.loads(run([a.ddpm, "bench", *common, "--iters", str(a.bench_iters), "--warmup", "3"]).stdout.strip().splitlines()[-1])
        out = tempfile.mkdtemp(prefix="ddpm-loop-")
        train = [a.ddpm, "train", *common, "--out", out, "--force", "--epochs", str(a.epochs), "--sample-every", "0",
                 "--progress", "plain", "--checkpoint-every", "1"]
        if a.limit:
            train += ["--limit", str(a.limit)]
        env = dict(os.environ)
        p = run(train, env)
        rj = json.load(open(os.path.join(out, "run.json")))
        t = rj["time"]
        images = rj["steps"]["trained"] * rj["training"]["batch"]
        loop_wall = t["total_s"] - t["setup_s"]
        shown = [float(m.replace(",", "")) for m in re.findall(r"loss \S+ ([0-9.,]+) img/s", p.stderr)]
        shown = shown[1:] if len(shown) > 1 else shown  # the first line's window is still filling
        row = {
            "repeat": rep, "device": bench.get("device"), "precision": bench.get("precision"), "threads": bench.get("threads"),
            "batch": rj["training"]["batch"], "steps": rj["steps"]["trained"],
            "bench_train_img_per_s": bench["train_img_per_s"],
            "loop_epoch_img_per_s": rj["throughput"].get("steady_epoch_images_per_s"),
            "loop_steady_img_per_s": rj["throughput"]["steady_images_per_s"],
            "loop_wall_img_per_s": round(images / loop_wall, 2) if loop_wall > 0 else None,
            "shown_img_per_s": statistics.median(shown) if shown else None,
            "time": t,
        }
        row["steady_over_bench"] = round(row["loop_steady_img_per_s"] / row["bench_train_img_per_s"], 3)
        if row["loop_epoch_img_per_s"]:
            row["epoch_over_bench"] = round(row["loop_epoch_img_per_s"] / row["bench_train_img_per_s"], 3)
        row["wall_over_bench"] = round(row["loop_wall_img_per_s"] / row["bench_train_img_per_s"], 3)
        if row["shown_img_per_s"]:
            row["shown_over_wall"] = round(row["shown_img_per_s"] / row["loop_wall_img_per_s"], 3)
        print(json.dumps(row), flush=True)
        rows.append(row)
        if a.keep_runs:
            print(f"# run folder: {out}", file=sys.stderr)
        else:
            shutil.rmtree(out, ignore_errors=True)
    summary = {k: statistics.median(r[k] for r in rows if r.get(k) is not None)
               for k in ("bench_train_img_per_s", "loop_epoch_img_per_s", "loop_steady_img_per_s", "loop_wall_img_per_s",
                         "shown_img_per_s", "epoch_over_bench", "steady_over_bench", "wall_over_bench", "shown_over_wall") if any(r.get(k) is not None for r in rows)}
    print(json.dumps({"summary": summary}))


if __name__ == "__main__":
    main()
