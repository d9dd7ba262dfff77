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

step "ddpm bench vs PyTorch, seed model, batch 512 (TF32 on both sides)"
timeout "${GPU_JAVA_COMPARE_TIMEOUT:-130}" python3 benchmarks/compare.py --ddpm "$DDPM" --device cuda --batch 512 \
  --preset seed --repeats 2 --warmup 5 --iters 20 --peak-tflops 989 2>&1 | tee -a "$LOG/log.txt" || status=1

step "ddpm bench, IEEE fp32 (no TF32), batch 512"
timeout 40 "$DDPM" bench --device cuda --preset seed --batch 512 --warmup 5 --iters 20 2>&1 | tee -a "$LOG/log.txt" || status=1

step "ddpm train on CUDA: seed model, CIFAR-10 subset, 300 steps of batch 128"
timeout "${GPU_JAVA_TRAIN_TIMEOUT:-60}" "$DDPM" train --device cuda --tf32 --preset seed --cifar-dir "$ART/cifar" \
  --batch 128 --steps 300 --epochs 1000 --sample-every 0 --progress plain --out "$WORK/run" 2>&1 | tail -n 25 | tee -a "$LOG/log.txt" || status=1
cp "$WORK/run/loss.png" "$LOG/" 2>/dev/null
head -n 3 "$WORK/run/loss.jsonl" | tee -a "$LOG/log.txt"; tail -n 3 "$WORK/run/loss.jsonl" | tee -a "$LOG/log.txt"

step "ddpm sample on CUDA: 100 images from that checkpoint"
timeout 45 "$DDPM" sample --device cuda --from "$WORK/run/model.ckpt" --count 100 --out "$LOG/samples" 2>&1 | tail -n 8 | tee -a "$LOG/log.txt" || status=1
ls -la "$LOG/samples" 2>/dev/null

echo
echo "gpu-java-check: $([ $status -eq 0 ] && echo PASSED || echo FAILED) (logs in $LOG)"
exit $status
