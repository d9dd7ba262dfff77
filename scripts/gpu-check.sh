#!/usr/bin/env bash
# The GPU check of the CUDA backend, to run on a machine with an NVIDIA GPU
# from the repository root:
#
#   scripts/gpu-check.sh ARTIFACTS
#
# ARTIFACTS is a folder holding a prebuilt test_backend_ops and cuda_check (at
# ARTIFACTS/<name>, or ARTIFACTS/tests/test_backend_ops and
# ARTIFACTS/tools/cuda_check), built elsewhere with
#   cmake -S native -B build-portable -DDDPM_PORTABLE=ON -DDDPM_CUDA_REQUIRED=ON
#   cmake --build build-portable -j --target test_backend_ops cuda_check
# (DDPM_PORTABLE so that their CPU reference runs on any x86-64 host).
#
# It prints nvidia-smi, runs test_backend_ops in full (every op of ops.def
# against the CPU, in fp32, tf32 and bf16), then cuda_check's parts each in its
# own process (GPU_CHECK_PARTS, default: UNet; features; training curves and
# step graphs; timings and a per-op profile; each in fp32 and in precision
# bf16), then `test_backend_ops --backend cuda --quick` (smaller shapes) under
# compute-sanitizer's memcheck (any memcheck error fails the script), all
# under one deadline (GPU_CHECK_DEADLINE seconds). Logs go to $OUT when set, else to
# /tmp/ddpm-gpu-check. cuDNN and cuBLAS are taken from the Python environment
# there (the NVIDIA wheels PyTorch uses), found below. Without a GPU it says
# so and exits 0. Each run is also cut at its own timeout:
# GPU_CHECK_OPS_TIMEOUT (180), GPU_CHECK_TIMEOUT (360, each cuda_check part)
# and GPU_CHECK_MEMCHECK_TIMEOUT (150) seconds.
set -uo pipefail

ART="${1:-}"
LOG="${OUT:-/tmp/ddpm-gpu-check}"
mkdir -p "$LOG"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU on this machine (nvidia-smi missing or failing): nothing to check"
  exit 0
fi

# find_tool NAME FOLDER: the prebuilt binary, from ARTIFACTS or build/.
find_tool() {
  for c in "$ART/$1" "$ART/$2/$1" "build/$2/$1"; do
    if [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  echo "gpu-check: no $1 binary under '${ART}' (nor build/$2/); build it with -DDDPM_PORTABLE=ON" >&2
  return 1
}
OPS="$(find_tool test_backend_ops tests)" || exit 2
CHECK="$(find_tool cuda_check tools)" || exit 2

echo "== nvidia-smi"
nvidia-smi 2>&1 | tee "$LOG/nvidia-smi.txt"

# cuDNN 9, cuBLAS 13 and NVRTC from the Python environment (scripts/cuda-libs.sh).
. "$(dirname "$0")/cuda-libs.sh"
echo "== libraries (LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-})"
ldd "$CHECK" "$OPS" | grep -E "cudnn|cublas|cudart|not found" | tee "$LOG/ldd.txt"
if grep -q "not found" "$LOG/ldd.txt"; then
  echo "gpu-check: cuDNN / cuBLAS not found (looked in the Python environment: '${LIBDIRS}')" >&2
  exit 2
fi

status=0
# One deadline for the whole script (GPU_CHECK_DEADLINE seconds from here), so
# that a device call ends with its summary: each run's timeout is the smaller
# of its own and what is left; a run with under 10 s left is SKIPPED.
deadline=$(( $(date +%s) + ${GPU_CHECK_DEADLINE:-900} ))
# run_limited NAME OWN_TIMEOUT LOG CMD...: runs CMD under the timeout, tees LOG,
# records a failure.
run_limited() {
  local name=$1 own=$2 log=$3; shift 3
  local left=$(( deadline - $(date +%s) ))
  local limit=$(( own < left ? own : left ))
  if [ "$limit" -lt 10 ]; then
    echo "gpu-check: $name SKIPPED (the deadline is near)" | tee "$log"
    status=1
    return
  fi
  echo "== $name (timeout ${limit} s, $(date +%T))"
  local t0=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  echo "gpu-check: $name exit $rc after $(( $(date +%s) - t0 )) s"
  if [ "$rc" -ne 0 ]; then
    echo "gpu-check: $name FAILED (exit $rc; 124 = timeout, 99 = memcheck errors, 77 = no usable GPU)"
    status=1
  fi
}

# Correctness first (every op, then the whole-model checks, each cuda_check
# part in its own process so that one failure does not hide the rest), then
# the timings, then the sanitizer.
run_limited "test_backend_ops --backend cuda --precision all" "${GPU_CHECK_OPS_TIMEOUT:-180}" "$LOG/ops.log" \
  "$OPS" --backend cuda --precision all
# GPU_CHECK_PARTS: cuda_check argument sets separated by ';'.
IFS=';' read -r -a parts <<< "${GPU_CHECK_PARTS:---unet;--features;--train;--bench --profile}"
i=0
for part in "${parts[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  run_limited "cuda_check $part" "${GPU_CHECK_TIMEOUT:-360}" "$LOG/cuda_check_$i.log" "$CHECK" $part
done
cat "$LOG"/cuda_check_*.log > "$LOG/cuda_check.log" 2>/dev/null
grep '^{' "$LOG/cuda_check.log" > "$LOG/bench.jsonl" || true
rm -f "$LOG"/cuda_check_*.log

SAN="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
if [ -n "$SAN" ]; then
  # Heuristic algorithm choice: cudnnFind would benchmark every algorithm
  # under the sanitizer, which is slow and adds nothing.
  DDPM_CUDNN_ALGO=heuristic run_limited "compute-sanitizer memcheck: test_backend_ops --backend cuda --quick" \
    "${GPU_CHECK_MEMCHECK_TIMEOUT:-150}" "$LOG/memcheck.log" \
    "$SAN" --tool memcheck --error-exitcode 99 --print-limit 50 "$OPS" --backend cuda --precision all --quick
else
  echo "gpu-check: compute-sanitizer not found: memcheck run skipped"
fi

echo "== summary"
grep -E "^FAIL" "$LOG/memcheck.log" "$LOG/ops.log" "$LOG/cuda_check.log" 2>/dev/null | head -60 || echo "no FAIL lines"
grep -E "ERROR SUMMARY" "$LOG/memcheck.log" 2>/dev/null || true
grep -E "^cuda (fp32|tf32|bf16): [0-9]+ checks" "$LOG/ops.log" 2>/dev/null || true
grep -E "^cuda_check: [0-9]+ checks" "$LOG/cuda_check.log" 2>/dev/null || true
echo "gpu-check: logs in $LOG; $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
