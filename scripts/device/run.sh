#!/usr/bin/env bash
# The GPU checks, in device calls of under 10 minutes each (the device
# tool's limit per command), from the repository root with the folder made
# by scripts/device/pack.sh carried: .device-sweep/ (the native checks) for
# native, sweep, engines, final and fusion; .device/ (the distribution and
# CIFAR-10) for compare and java:
#
#   bash scripts/device/run.sh native .device-sweep
#       scripts/gpu-check.sh: every op of ops.def against the CPU in fp32, tf32
#       and bf16 (quick shapes under compute-sanitizer memcheck, then full),
#       then cuda_check (whole UNet vs CPU, training curves, CUDA-graph replay,
#       timings, per-op profile). Its timeouts add up to ~510 s.
#   bash scripts/device/run.sh sweep .device-sweep
#       the native checks and then the fusion probe in one call, under one
#       deadline (GPU_SWEEP_S, 400 s; the probe gets GPU_SWEEP_FUSION_S, 80 s,
#       of it): what a session with a few device minutes runs first.
#   bash scripts/device/run.sh engines .device-sweep
#       the convolution engines: the op table in bf16 with cuDNN graph-API
#       engines forced (DDPM_CUDNN_GRAPH=force) and under memcheck, the whole
#       UNet and the training curves with them, cuda_check --bf16-bench with
#       them off and on (auto, each choice logged), and ncu's per-kernel
#       times of one bf16 training step, ours and PyTorch eager bf16 +
#       channels_last + fused Adam (kernels.txt). ~4 minutes.
#   bash scripts/device/run.sh final .device-sweep
#       after a session's changes, the checks in one call under one deadline
#       (GPU_FINAL_S, 540 s): the op table (and under memcheck; the first
#       layer's own kernels forced, DDPM_CUDA_SMALL_CIN=force), the UNet,
#       curves, step graphs (with and without the per-step weight copies)
#       and features, the bf16 bench, with the first layer on cuDNN only
#       (padded and not) and with the time MLPs on the main stream
#       (DDPM_CUDA_SIDE_REGIONS=0),
#       the weight gradients on one stream (DDPM_CUDA_ASYNC_WGRAD=0: curves
#       and step graphs, bench),
#       the fused epilogues (DDPM_CUDNN_FUSED=1: op table forced, UNet,
#       bench), ncu's kernel profile with DRAM bytes (~4 minutes).
#   bash scripts/device/run.sh all .device-all
#       final (GPU_FINAL_S, 300 s), compare (GPU_COMPARE_S, 220 s) and
#       compiled PyTorch's kernel profile (GPU_TORCH_PROFILE_S, 100 s) in one
#       call, so one machine start: compare also times ours with each
#       experiment whose checks final passed (compare.py --ours-env). What a
#       session with 15 device minutes runs first (~8 minutes).
#   GPU_EXPERIMENTS="DDPM_CUDA_ASYNC_WGRAD=0" bash scripts/device/run.sh profile .device-all
#       the kernel profiles of one bf16 training step and one sampling step,
#       ours (ncu) and PyTorch's compile-ro-bf16-cl (torch.profiler)
#       (kernels.txt), then compare with 2 rounds and each experiment as an
#       extra run of ours (~6 minutes).
#   bash scripts/device/run.sh fusion .device-sweep
#       cuda_fusion_probe (issue 9): which seed convs cuDNN's fusion engines
#       run fused, how fast against the unfused path, how exactly
#       (fusion.txt; GPU_FUSION_TIMEOUT, 420 s).
#   bash scripts/device/run.sh compare .device
#       ddpm bench --precision bf16 beside PyTorch bf16 + channels_last, eager
#       and torch.compile(mode="reduce-overhead") with fused Adam
#       (compare.py's compile-ro-bf16-cl: the strongest PyTorch),
#       GPU_COMPARE_REPEATS (1) rounds, then, with cifar-jpeg/ packed,
#       3 epochs of ddpm train --preset seed --precision bf16 (GPU_COMPARE_S, 300 s).
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
# from the Python environment's NVIDIA wheels (scripts/cuda-libs.sh).
fusion_probe() {
  local limit=$1
  if [ -f "$art/cuda_fusion_probe.gz" ] && [ ! -x "$art/cuda_fusion_probe" ]; then
    gunzip -c "$art/cuda_fusion_probe.gz" > "$art/cuda_fusion_probe" && chmod +x "$art/cuda_fusion_probe"
  fi
  . scripts/cuda-libs.sh
  timeout "$limit" "$art/cuda_fusion_probe" --budget-s $((limit - 20)) 2>&1 | tee "$OUT/fusion.txt"
}

# The gzipped native checks of pack.sh, unpacked once.
unpack_checks() {
  for t in test_backend_ops cuda_check; do
    if [ -f "$art/$t.gz" ] && [ ! -x "$art/$t" ]; then gunzip -c "$art/$t.gz" > "$art/$t" && chmod +x "$art/$t"; fi
  done
}

# The native checks (scripts/gpu-check.sh) under a deadline of $1 seconds.
native_checks() {
  unpack_checks
  # cuda_check's parts, each its own process: the whole UNet against the CPU; the
  # beyond-the-notebook features; training curves and CUDA-graph replay against
  # op-by-op steps; timings and a per-op profile.
  GPU_CHECK_DEADLINE=$1 GPU_CHECK_MEMCHECK_TIMEOUT=${GPU_CHECK_MEMCHECK_TIMEOUT:-90} \
    GPU_CHECK_OPS_TIMEOUT=${GPU_CHECK_OPS_TIMEOUT:-120} GPU_CHECK_TIMEOUT=${GPU_CHECK_TIMEOUT:-150} \
    bash scripts/gpu-check.sh "$art"
}

# engines: step NAME TIMEOUT LOG CMD...: CMD's output into $OUT/LOG (appended),
# its exit status and last lines into the call's output.
engine_step() {
  local name=$1 limit=$2 log=$3; shift 3
  if [ -n "${step_deadline:-}" ]; then  # the phase's deadline caps every step
    local left=$(( step_deadline - $(date +%s) ))
    [ "$left" -lt "$limit" ] && limit=$left
    if [ "$limit" -lt 15 ]; then echo "== $name: SKIPPED (the deadline is near)" | tee -a "$OUT/$log"; engines_rc=1; last_rc=1; return; fi
  fi
  echo "== $name ($(date +%T))" | tee -a "$OUT/$log"
  local t0=$(date +%s)
  timeout "$limit" "$@" >> "$OUT/$log" 2>&1
  local rc=$?
  last_rc=$rc  # the step's status (a skipped step's is 1), for phases that act on it
  echo "   exit $rc after $(( $(date +%s) - t0 )) s" | tee -a "$OUT/$log"
  [ "$rc" -eq 0 ] || engines_rc=1
}

# engines: ncu's per-kernel times of one profiled training step, summed
# (kernel_profile.py) into $OUT/kernels.txt.
kernel_step() {
  local label=$1 limit=$2; shift 2
  local ncu csv=/tmp/ddpm-kernels-$label.csv
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  if [ -z "$ncu" ]; then echo "   ncu not found: no kernel profile" | tee -a "$OUT/kernels.txt"; return; fi
  rm -f "$csv"
  engine_step "ncu: $label" "$limit" kernels_run.log "$ncu" --profile-from-start off --clock-control none \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv --print-units base \
    --log-file "$csv" "$@"
  python3 scripts/device/kernel_profile.py "$csv" --label "$label" --top 45 >> "$OUT/kernels.txt" 2>&1
  tail -n 1 "$OUT/kernels.txt"
}

# PyTorch's kernels of one training step and one sampling forward of
# variant flags $2..., under torch.profiler (in stream, CUDA graphs
# included; ncu crashed under torch.compile on an H200), summed by
# kernel_profile.py into $OUT/kernels.txt. $1: the label.
torch_kernel_step() {
  local label=$1; shift
  local prefix=/tmp/ddpm-torch-$label
  rm -f "$prefix"-*.csv
  engine_step "torch.profiler: $label" 150 kernels_run.log python3 benchmarks/pytorch_ddpm_bench.py --device cuda \
    --batch 512 "$@" --warmup 25 --torch-profile "$prefix"
  local phase
  for phase in train forward; do
    [ -f "$prefix-$phase.csv" ] && python3 scripts/device/kernel_profile.py "$prefix-$phase.csv" --label "$label-$phase" \
      --source "in stream, torch.profiler" --top 45 >> "$OUT/kernels.txt" 2>&1
  done
  grep -E '^\{"kernel_profile": "'"$label" "$OUT/kernels.txt"
}

# final: the CUDA checks after a session's changes, under a deadline of $1
# seconds. Experiments (off by default) whose checks pass are added to
# passed_experiments, as NAME=VALUE, for compare to time beside the default.
passed_experiments=()
final_checks() {
  unpack_checks
  . scripts/cuda-libs.sh
  step_deadline=$(( $(date +%s) + $1 ))
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/final.log"
  engine_step "test_backend_ops all precisions" 60 final.log "$art/test_backend_ops" --backend cuda --precision all
  engine_step "test_backend_ops bf16, graph engines forced" 40 final.log \
    env DDPM_CUDNN_GRAPH=force "$art/test_backend_ops" --backend cuda --precision bf16
  # The first layer's own kernels (nhwc_conv_small_cin.cu), whether or not their race picks them.
  engine_step "test_backend_ops bf16 convolutions, small-Cin kernels forced" 30 final.log \
    env DDPM_CUDA_SMALL_CIN=force "$art/test_backend_ops" --backend cuda --precision bf16 conv2d
  # The first layer on cuDNN with its channels padded to 8 (conv.cu's PaddedConv), and under memcheck.
  engine_step "test_backend_ops bf16 convolutions, first layer on padded cuDNN" 30 final.log \
    env DDPM_CUDA_SMALL_CIN=off "$art/test_backend_ops" --backend cuda --precision bf16 conv2d
  san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
  [ -n "$san" ] && engine_step "memcheck: test_backend_ops bf16 --quick conv2d, first layer on padded cuDNN" 40 final.log \
    env DDPM_CUDA_SMALL_CIN=off "$san" --tool memcheck --error-exitcode 99 --print-limit 20 \
    "$art/test_backend_ops" --backend cuda --precision bf16 --quick conv2d
  [ -n "$san" ] && engine_step "memcheck: test_backend_ops bf16 --quick, graph engines forced" 60 final.log \
    env DDPM_CUDNN_GRAPH=force DDPM_CUDA_SMALL_CIN=force "$san" --tool memcheck --error-exitcode 99 --print-limit 20 \
    "$art/test_backend_ops" --backend cuda --precision bf16 --quick
  engine_step "cuda_check --unet" 40 final.log "$art/cuda_check" --unet
  # A failure here first suspects the time MLPs' side regions (new, compile-checked when written): the same without them.
  [ "$last_rc" -ne 0 ] && engine_step "cuda_check --unet, side regions off" 40 final.log \
    env DDPM_CUDA_SIDE_REGIONS=0 "$art/cuda_check" --unet
  engine_step "cuda_check --train (curves, step graphs)" 60 final.log "$art/cuda_check" --train
  [ "$last_rc" -ne 0 ] && engine_step "cuda_check --train, side regions off" 60 final.log \
    env DDPM_CUDA_SIDE_REGIONS=0 "$art/cuda_check" --train
  engine_step "cuda_check --features (sampling checks and times)" 70 final.log "$art/cuda_check" --features
  # (Graph engines off, 9.12 ms a step against 8.58, and per-call weight
  # conversions, 8.70 ms, were measured on an H200 in session 23: no longer run here.)
  engine_step "cuda_check bf16 bench, graph engines auto" 60 bench.log \
    env DDPM_CUDA_VERBOSE=1 "$art/cuda_check" --bench --bf16-bench --batches 128,512
  # The first layer on (padded) cuDNN only, and on cuDNN with 3 channels, against the race's choice above.
  engine_step "cuda_check bf16 bench, first layer on padded cuDNN" 40 bench.log \
    env DDPM_CUDA_SMALL_CIN=off "$art/cuda_check" --bench --bf16-bench --batches 512
  engine_step "cuda_check bf16 bench, first layer on cuDNN unpadded" 40 bench.log \
    env DDPM_CUDA_SMALL_CIN=off DDPM_CUDA_PAD_CIN=0 "$art/cuda_check" --bench --bf16-bench --batches 512
  # The time MLPs in order on the main stream (DDPM_CUDA_SIDE_REGIONS=0), against
  # the default side regions (Backend::side_begin) on the second stream.
  engine_step "cuda_check bf16 bench, time MLPs on the main stream" 40 bench.log \
    env DDPM_CUDA_SIDE_REGIONS=0 "$art/cuda_check" --bench --bf16-bench --batches 512
  # Weight gradients on the main stream (DDPM_CUDA_ASYNC_WGRAD=0), against the default second stream (side_stream.h).
  engine_step "cuda_check --train, weight gradients on one stream" 60 final.log \
    env DDPM_CUDA_ASYNC_WGRAD=0 "$art/cuda_check" --train
  engine_step "cuda_check bf16 bench, weight gradients on one stream" 40 bench.log \
    env DDPM_CUDA_ASYNC_WGRAD=0 "$art/cuda_check" --bench --bf16-bench --batches 512
  kernel_step ours-bf16 60 "$art/cuda_check" --kernels
  kernel_step ours-bf16-sample 40 "$art/cuda_check" --kernels-sample
  # The fused epilogues last: their searches compile cuDNN engines at run time (~40 s on an H200).
  # (DDPM_CUDNN_FUSED, off by default until this passes on a GPU.)
  engine_step "test_backend_ops bf16, fused epilogues and graph engines forced" 60 final.log \
    env DDPM_CUDNN_FUSED=1 DDPM_CUDNN_GRAPH=force DDPM_CUDA_VERBOSE=1 "$art/test_backend_ops" --backend cuda \
    --precision bf16 conv
  local fused_ops_rc=$last_rc
  engine_step "cuda_check --unet, fused epilogues" 90 final.log env DDPM_CUDNN_FUSED=1 "$art/cuda_check" --unet
  [ "$fused_ops_rc" -eq 0 ] && [ "$last_rc" -eq 0 ] && passed_experiments+=(DDPM_CUDNN_FUSED=1)
  engine_step "cuda_check bf16 bench, fused epilogues" 90 bench.log \
    env DDPM_CUDNN_FUSED=1 DDPM_CUDA_VERBOSE=1 "$art/cuda_check" --bench --bf16-bench --batches 512
  grep -E '^\{|convolutions:|graphs:' "$OUT/bench.log"
  echo "== summary"
  grep -hE "^FAIL|checks, [0-9]+ failed|ERROR SUMMARY|^cuda_check: [0-9]+ checks|SKIPPED|exit [1-9]" "$OUT/final.log" | head -40
  grep -hE "ddpm timing|ddim timing" "$OUT/final.log" | head
  grep -h "epoch\|img/s" "$OUT/final.log" | tail -n 8
  echo "experiments that passed their checks: ${passed_experiments[*]:-none}"
  echo "run.sh final: $([ $engines_rc -eq 0 ] && echo PASSED || echo FAILED)"
}

# compare: ours (and each passed experiment) beside PyTorch, then a short
# training run, under a deadline of $1 seconds.
compare_runs() {
  if ! nvidia-smi -L >/dev/null 2>&1; then echo "run.sh compare: no NVIDIA GPU here: nothing to compare"; return 0; fi
  . scripts/cuda-libs.sh
  step_deadline=$(( $(date +%s) + $1 ))
  local extra=() e
  for e in "${passed_experiments[@]}"; do extra+=(--ours-env "$e"); done
  work=/tmp/ddpm-compare
  rm -rf "$work" && mkdir -p "$work" && tar -xzf "$art"/ddpm4j-*.tar.gz -C "$work"
  engine_step "compare.py: ours bf16 vs PyTorch bf16-cl and compile-ro-bf16-cl" 240 compare.log \
    python3 benchmarks/compare.py --ddpm "$(echo "$work"/ddpm4j-*/bin/ddpm)" --device cuda --batch 512 \
    --preset seed --precision bf16 --repeats "${GPU_COMPARE_REPEATS:-1}" --peak-tflops 989 --variants bf16-cl,compile-ro-bf16-cl \
    "${extra[@]}" --out "$OUT/compare.jsonl"
  tail -n 25 "$OUT/compare.log"
  if [ -d "$art/cifar-jpeg" ]; then
    python3 scripts/device/decode_cifar.py "$art/cifar-jpeg" /tmp/ddpm-cifar > /dev/null 2>&1
    engine_step "ddpm train --preset seed --precision bf16, 3 epochs of 50,000 CIFAR-10 images" 60 compare.log \
      "$(echo "$work"/ddpm4j-*/bin/ddpm)" train --device cuda --precision bf16 --preset seed --cifar-dir /tmp/ddpm-cifar \
      --epochs 3 --sample-every 0 --progress plain --out /tmp/ddpm-train
    grep -iE "epoch|img/s|step" "$OUT/compare.log" | tail -n 12
    # The same with each checkpoint's snapshot copied to the host in stream order (DDPM_CUDA_SNAPSHOT_STAGE=0),
    # against the default staging buffer and copy stream (cuda_backend.cu's download_async).
    engine_step "ddpm train as above, snapshots in stream order" 60 compare.log \
      env DDPM_CUDA_SNAPSHOT_STAGE=0 "$(echo "$work"/ddpm4j-*/bin/ddpm)" train --device cuda --precision bf16 --preset seed \
      --cifar-dir /tmp/ddpm-cifar --epochs 3 --sample-every 0 --progress plain --out /tmp/ddpm-train-nostage
    grep -E "^speed:" "$OUT/compare.log" | tail -n 2
  fi
  echo "run.sh compare: $([ $engines_rc -eq 0 ] && echo PASSED || echo FAILED)"
}

case "$phase" in
  engines)
    unpack_checks
    . scripts/cuda-libs.sh
    engines_rc=0
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/engines.log"
    engine_step "test_backend_ops bf16, graph engines forced" 90 engines.log \
      env DDPM_CUDNN_GRAPH=force DDPM_CUDA_VERBOSE=1 "$art/test_backend_ops" --backend cuda --precision bf16
    engine_step "cuda_check --unet, graph engines forced" 60 engines.log env DDPM_CUDNN_GRAPH=force "$art/cuda_check" --unet
    engine_step "cuda_check bf16 bench, graph engines off" 60 bench.log \
      env DDPM_CUDNN_GRAPH=off "$art/cuda_check" --bench --bf16-bench --batches 128,512
    engine_step "cuda_check bf16 bench, graph engines auto" 120 bench.log \
      env DDPM_CUDNN_GRAPH=auto DDPM_CUDA_VERBOSE=1 "$art/cuda_check" --bench --bf16-bench --batches 128,512
    grep -E '^\{|convolutions:|graphs:' "$OUT/bench.log"
    kernel_step ours-bf16-graph-auto 90 "$art/cuda_check" --kernels
    kernel_step pytorch-eager-bf16-cl-fusedadam 90 python3 benchmarks/pytorch_ddpm_bench.py --device cuda --batch 512 \
      --bf16 --channels-last --tf32 --fused-adam --profile-step --warmup 5
    engine_step "cuda_check --train, graph engines forced" 120 engines.log env DDPM_CUDNN_GRAPH=force "$art/cuda_check" --train
    engine_step "test_backend_ops all precisions (auto)" 90 engines.log "$art/test_backend_ops" --backend cuda --precision all
    san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
    [ -n "$san" ] && engine_step "memcheck: test_backend_ops bf16 --quick conv, graph engines forced" 90 engines.log \
      env DDPM_CUDNN_GRAPH=force DDPM_CUDA_SMALL_CIN=force "$san" --tool memcheck --error-exitcode 99 --print-limit 20 \
      "$art/test_backend_ops" --backend cuda --precision bf16 --quick conv
    echo "== summary"
    grep -hE "^FAIL|checks, [0-9]+ failed|ERROR SUMMARY|^cuda_check: [0-9]+ checks" "$OUT/engines.log" | head -40
    grep -h "graph API\|legacy kept" "$OUT/bench.log" | sed 's/; notes: .*//' | cut -c1-260 | head -60
    echo "run.sh engines: $([ $engines_rc -eq 0 ] && echo PASSED || echo FAILED)"
    exit $engines_rc
    ;;
  final)
    engines_rc=0
    final_checks "${GPU_FINAL_S:-540}"
    exit $engines_rc
    ;;
  native)
    native_checks "${GPU_CHECK_DEADLINE:-540}"
    ;;
  sweep)
    total=${GPU_SWEEP_S:-400}
    fusion_s=${GPU_SWEEP_FUSION_S:-80}
    t0=$(date +%s)
    native_checks $((total - fusion_s))
    native_rc=$?
    fusion_probe $((total - ($(date +%s) - t0)))
    fusion_rc=$?
    echo "run.sh sweep: native checks exit $native_rc, fusion probe exit $fusion_rc, $(( $(date +%s) - t0 )) s"
    [ "$native_rc" -eq 0 ] && [ "$fusion_rc" -eq 0 ]
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
    engines_rc=0
    compare_runs "${GPU_COMPARE_S:-300}"
    exit $engines_rc
    ;;
  all)
    # final, then compare with the experiments that passed, in one call
    # (one machine start): carry .device-all (pack.sh).
    engines_rc=0
    t0=$(date +%s)
    final_checks "${GPU_FINAL_S:-300}"
    compare_runs "${GPU_COMPARE_S:-220}"
    # Compiled PyTorch's kernels, for the profile beside ours (final's kernels.txt).
    step_deadline=$(( $(date +%s) + ${GPU_TORCH_PROFILE_S:-100} ))
    torch_kernel_step pytorch-compile-ro-bf16-cl --bf16 --channels-last --tf32 --fused-adam --compile reduce-overhead
    echo "run.sh all: $([ $engines_rc -eq 0 ] && echo PASSED || echo FAILED) in $(( $(date +%s) - t0 )) s"
    exit $engines_rc
    ;;
  profile)
    # ncu's kernel profile of one bf16 training step, ours and compiled
    # PyTorch (compile-ro-bf16-cl), then compare (GPU_COMPARE_REPEATS, 2
    # rounds) with each of GPU_EXPERIMENTS (NAME=VALUE, space-separated)
    # as an extra run of ours: carry .device-all.
    engines_rc=0
    unpack_checks
    . scripts/cuda-libs.sh
    step_deadline=$(( $(date +%s) + ${GPU_PROFILE_S:-150} ))
    kernel_step ours-bf16 60 "$art/cuda_check" --kernels
    kernel_step ours-bf16-sample 40 "$art/cuda_check" --kernels-sample
    torch_kernel_step pytorch-compile-ro-bf16-cl --bf16 --channels-last --tf32 --fused-adam --compile reduce-overhead
    grep -E '^\{"kernel_profile' "$OUT/kernels.txt"
    read -ra passed_experiments <<< "${GPU_EXPERIMENTS:-}"
    GPU_COMPARE_REPEATS=${GPU_COMPARE_REPEATS:-2} compare_runs "${GPU_COMPARE_S:-240}"
    exit $engines_rc
    ;;
  *)
    echo "run.sh: the phase is native, fusion, compare or java, got '$phase'" >&2
    exit 2
    ;;
esac
