#!/usr/bin/env bash
# The GPU checks, in device calls of under 10 minutes each (the device
# tool's limit per command), from the repository root with .device/ carried
# (made by scripts/device/pack.sh):
#
#   bash scripts/device/run.sh native .device
#       scripts/gpu-check.sh: every op of ops.def against the CPU in fp32, tf32
#       and bf16 (quick shapes under compute-sanitizer memcheck, then full),
#       then cuda_check (whole UNet vs CPU, training curves, CUDA-graph replay,
#       timings, per-op profile). Its timeouts add up to ~510 s.
#   bash scripts/device/run.sh fusion .device
#       cuda_fusion_probe (issue 9): which seed convs cuDNN's fusion engines
#       run fused, how fast against the unfused path, how exactly
#       (fusion.txt; GPU_FUSION_TIMEOUT, 420 s).
#   bash scripts/device/run.sh compare .device
#       ddpm bench --precision bf16 beside PyTorch bf16 + channels_last, eager
#       and torch.compile(mode="reduce-overhead") with fused Adam
#       (compare.py's compile-ro-bf16-cl), 2 repeats: the strongest PyTorch.
#   bash scripts/device/run.sh java .device
#       scripts/gpu-java-check.sh: the distribution's ddpm on CUDA: info,
#       compare.py beside PyTorch, bench in each precision, bf16 vs fp32 loss
#       curves over 300 steps, sampling, the first-epoch probe.
#
# Logs go to $OUT (the device tool returns them). Each phase caps its steps so
# the whole stays under ~8 minutes; raise the GPU_CHECK_* / GPU_JAVA_*
# timeouts when a call has more time.
set -uo pipefail
cd "$(dirname "$0")/../.."
phase=${1:?usage: scripts/device/run.sh native|fusion|compare|java ARTIFACTS}
art=${2:?usage: scripts/device/run.sh native|fusion|compare|java ARTIFACTS}
export OUT=${OUT:-/tmp/ddpm-device}
mkdir -p "$OUT"

# The cuDNN fusion probe (native/tools/cuda_fusion_probe.cu) under a timeout
# of $1 seconds, its time budget 20 s less so that it ends with its summary.
# cuDNN, cuBLAS and NVRTC (cuDNN's runtime-compiled engines load it) come
# from the Python environment's NVIDIA wheels.
fusion_probe() {
  local limit=$1 libs
  if [ -f "$art/cuda_fusion_probe.gz" ] && [ ! -x "$art/cuda_fusion_probe" ]; then
    gunzip -c "$art/cuda_fusion_probe.gz" > "$art/cuda_fusion_probe" && chmod +x "$art/cuda_fusion_probe"
  fi
  libs=$(python3 - <<'EOF' 2>/dev/null
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
want = ("libcudnn.so.9", "libcublas.so.13", "libcublasLt.so.13", "libnvrtc.so.13")
print(":".join(sorted({os.path.dirname(p) for r in roots for w in want for p in glob.glob(f"{r}/*/lib/{w}")})))
EOF
)
  LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout "$limit" "$art/cuda_fusion_probe" \
    --budget-s $((limit - 20)) 2>&1 | tee "$OUT/fusion.txt"
}

case "$phase" in
  native)
    for t in test_backend_ops cuda_check; do
      if [ -f "$art/$t.gz" ] && [ ! -x "$art/$t" ]; then gunzip -c "$art/$t.gz" > "$art/$t" && chmod +x "$art/$t"; fi
    done
    # cuda_check's parts: the whole UNet against the CPU, training curves, CUDA-graph replay against
    # op-by-op steps, the beyond-the-notebook features, timings and a per-op profile.
    GPU_CHECK_ARGS=${GPU_CHECK_ARGS:---unet --train --graphs --features --bench --profile} \
      GPU_CHECK_MEMCHECK_TIMEOUT=${GPU_CHECK_MEMCHECK_TIMEOUT:-90} GPU_CHECK_OPS_TIMEOUT=${GPU_CHECK_OPS_TIMEOUT:-120} \
      GPU_CHECK_TIMEOUT=${GPU_CHECK_TIMEOUT:-300} bash scripts/gpu-check.sh "$art"
    ;;
  fusion)
    fusion_probe "${GPU_FUSION_TIMEOUT:-420}"
    ;;
  java)
    if [ ! -f "$art/cifar/data_batch_5.bin" ]; then
      python3 scripts/device/decode_cifar.py "$art/cifar-jpeg" "$art/cifar" || exit 2
    fi
    GPU_JAVA_COMPARE_TIMEOUT=${GPU_JAVA_COMPARE_TIMEOUT:-120} GPU_JAVA_TRAIN_TIMEOUT=${GPU_JAVA_TRAIN_TIMEOUT:-60} \
      bash scripts/gpu-java-check.sh "$art"
    ;;
  compare)
    if ! nvidia-smi -L >/dev/null 2>&1; then echo "run.sh compare: no NVIDIA GPU here: nothing to compare"; exit 0; fi
    work=/tmp/ddpm-compare
    rm -rf "$work" && mkdir -p "$work" && tar -xzf "$art"/ddpm4j-*.tar.gz -C "$work" || exit 2
    timeout "${GPU_COMPARE_TIMEOUT:-540}" python3 benchmarks/compare.py --ddpm "$(echo "$work"/ddpm4j-*/bin/ddpm)" \
      --device cuda --batch 512 --preset seed --precision bf16 --repeats "${GPU_COMPARE_REPEATS:-2}" --peak-tflops 989 \
      --variants "${GPU_COMPARE_VARIANTS:-bf16-cl,compile-ro-bf16-cl}" --out "$OUT/compare.jsonl" 2>&1 | tee "$OUT/compare.txt"
    ;;
  *)
    echo "run.sh: the phase is native, fusion, compare or java, got '$phase'" >&2
    exit 2
    ;;
esac
