#!/usr/bin/env bash
# The Java side on a GPU machine that has no Java: the self-contained
# distribution (scripts/make-dist.sh) runs `ddpm info`, `ddpm bench` beside
# PyTorch on the same GPU (benchmarks/compare.py), a short CIFAR-10 training
# run on CUDA and sampling from it. From the repository root:
#
#   scripts/gpu-java-check.sh ARTIFACTS
#
# ARTIFACTS holds ddpm4j-<version>.tar.gz and cifar/ (CIFAR-10 binary files,
# possibly cut down). The log (log.txt), the loss curve and the sample grids go
# to $OUT (or /tmp/ddpm-gpu-java): at most 8 files, as the device tool returns.
# Without a GPU it says so and exits 0.
#
# GPU_JAVA_VARIANTS picks compare.py's PyTorch variants (default the eager
# ones, which fit this script's time; scripts/device/run.sh compare runs the
# compiled one). GPU_JAVA_PRECISION (tf32 or bf16, default bf16) is the precision under test:
# the PyTorch comparison, the training run and sampling use it; the other
# precisions get one `ddpm bench` line each, and a float32 training run of
# the same steps gives the reference loss curve it is compared with.
set -uo pipefail
ART=${1:?usage: scripts/gpu-java-check.sh ARTIFACTS}
LOG=${OUT:-/tmp/ddpm-gpu-java}
mkdir -p "$LOG"
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-java-check: no NVIDIA GPU here: nothing to check"
  exit 0
fi
WORK=/tmp/ddpm-dist
rm -rf "$WORK" && mkdir -p "$WORK"
tar -xzf "$ART"/ddpm4j-*.tar.gz -C "$WORK" || { echo "gpu-java-check: cannot unpack the distribution" >&2; exit 2; }
DDPM=$(echo "$WORK"/ddpm4j-*/bin/ddpm)
export DDPM_CACHE="$WORK/cache"
status=0
step() { echo; echo "== $* ($(date +%T))" | tee -a "$LOG/log.txt"; }

step "nvidia-smi"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee -a "$LOG/log.txt"

step "ddpm info --device cuda"
"$DDPM" info --device cuda 2>&1 | tee -a "$LOG/log.txt" || status=1

P=${GPU_JAVA_PRECISION:-bf16}
step "ddpm bench --precision $P vs PyTorch, seed model, batch 512 (TF32 allowed on both sides)"
timeout "${GPU_JAVA_COMPARE_TIMEOUT:-150}" python3 benchmarks/compare.py --ddpm "$DDPM" --device cuda --batch 512 \
  --preset seed --precision "$P" --repeats 2 --warmup 5 --iters 20 --peak-tflops 989 \
  --variants "${GPU_JAVA_VARIANTS:-eager-tf32,bf16-cl}" 2>&1 | tee -a "$LOG/log.txt" || status=1

for other in fp32 tf32 bf16; do
  [ "$other" = "$P" ] && continue
  step "ddpm bench --precision $other, batch 512"
  timeout 40 "$DDPM" bench --device cuda --preset seed --batch 512 --warmup 5 --iters 20 --precision "$other" 2>&1 | tee -a "$LOG/log.txt" || status=1
done

# The same 300 steps (same seed: same init, batches, timesteps and noise) in
# $P and in IEEE float32: the loss curves must agree.
for prec in "$P" fp32; do
  step "ddpm train --precision $prec on CUDA: seed model, CIFAR-10 subset, 300 steps of batch 128"
  timeout "${GPU_JAVA_TRAIN_TIMEOUT:-60}" "$DDPM" train --device cuda --precision "$prec" --preset seed --cifar-dir "$ART/cifar" \
    --batch 128 --steps 300 --epochs 1000 --sample-every 0 --progress plain --out "$WORK/run-$prec" 2>&1 | tail -n 6 | tee -a "$LOG/log.txt" || status=1
done
cp "$WORK/run-$P/loss.png" "$LOG/loss-$P.png" 2>/dev/null
step "loss curves: $P vs fp32 (means of 30-step windows)"
python3 - "$WORK/run-$P/loss.jsonl" "$WORK/run-fp32/loss.jsonl" "$P" <<'PYEOF' 2>&1 | tee -a "$LOG/log.txt" || status=1
import json, sys
def load(p):
    return [json.loads(l)["loss"] for l in open(p) if l.strip()]
a, b = load(sys.argv[1]), load(sys.argv[2])
n = min(len(a), len(b)); worst = 0.0
print("steps        %-9s fp32      rel diff" % sys.argv[3])
for w in range(0, n, 30):
    ma = sum(a[w:w + 30]) / len(a[w:w + 30]); mb = sum(b[w:w + 30]) / len(b[w:w + 30])
    rel = abs(ma - mb) / mb; worst = max(worst, rel)
    print("[%3d,%3d)    %.5f   %.5f   %.2f%%" % (w, min(n, w + 30), ma, mb, 100 * rel))
print("worst window difference %.2f%% over %d steps (limit 10%%)" % (100 * worst, n))
sys.exit(0 if n >= 300 and worst <= 0.10 else 1)
PYEOF

step "ddpm sample --precision $P on CUDA: 100 images from the $P checkpoint"
timeout 45 "$DDPM" sample --device cuda --precision "$P" --from "$WORK/run-$P/model.ckpt" --count 100 --out "$WORK/samples" 2>&1 | tail -n 8 | tee -a "$LOG/log.txt" || status=1
cp "$WORK/samples/samples.png" "$LOG/samples-$P.png" 2>/dev/null

# The first epoch's extra time (issue 10): the same 3 epochs of batch 512 with
# and without a partial last batch. A partial batch's first step used to run a
# whole cuDNN search; ConvEngine now gives smaller batches the heuristics, so
# epoch 1 of both runs should take about as long as the later epochs.
# DDPM_CUDA_VERBOSE=1 logs each algorithm choice ("find" or "heuristic").
IMAGES=$(( $(cat "$ART"/cifar/data_batch_*.bin 2>/dev/null | wc -c) / 3073 ))
K=$(( IMAGES / 512 < 98 ? IMAGES / 512 : 98 ))
if [ "$K" -ge 4 ]; then
  for limit in $(( K * 512 )) $(( K * 512 - 176 )); do
    step "first-epoch probe: ddpm train --precision $P, 3 epochs of --limit $limit at batch 512 ($(( limit % 512 )) in the last batch)"
    DDPM_CUDA_VERBOSE=1 timeout "${GPU_JAVA_PROBE_TIMEOUT:-60}" "$DDPM" train --device cuda --precision "$P" --preset seed --cifar-dir "$ART/cifar" \
      --limit "$limit" --batch 512 --epochs 3 --sample-every 0 --progress plain --out "$WORK/probe-$limit" \
      >"$WORK/probe-$limit.txt" 2>&1 || status=1
    grep -E "epoch [0-9]+/3 done|^time |speed:" "$WORK/probe-$limit.txt" | tee -a "$LOG/log.txt"
    echo "cuDNN choices: $(grep -c '(find)' "$WORK/probe-$limit.txt") searched, $(grep -c 'heuristic' "$WORK/probe-$limit.txt") heuristic" \
      | tee -a "$LOG/log.txt"
  done
fi

echo
echo "gpu-java-check: $([ $status -eq 0 ] && echo PASSED || echo FAILED) (logs in $LOG)"
exit $status
