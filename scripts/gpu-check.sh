#!/usr/bin/env bash
# The GPU check of the CUDA backend, to run on a machine with an NVIDIA GPU
# from the repository root:
#
#   scripts/gpu-check.sh ARTIFACTS
#
# ARTIFACTS is a folder holding a prebuilt cuda_check (at ARTIFACTS/cuda_check
# or ARTIFACTS/tools/cuda_check), built elsewhere with
#   cmake -S native -B build-portable -DDDPM_PORTABLE=ON -DDDPM_CUDA_REQUIRED=ON
#   cmake --build build-portable -j --target cuda_check
# (DDPM_PORTABLE so that its CPU reference runs on any x86-64 host).
#
# It prints nvidia-smi, runs `cuda_check --ops --quick` under
# compute-sanitizer's memcheck (any memcheck error fails the script), then
# cuda_check in full (ops, UNet, training curves, timings, a per-op profile;
# each in fp32 and in precision bf16), or with GPU_CHECK_ARGS. Logs go to $OUT
# when set, else to /tmp/ddpm-gpu-check. cuDNN and cuBLAS are taken from the
# Python environment there (the NVIDIA wheels PyTorch uses), found below.
# Without a GPU it says so and exits 0. About 3-5 minutes on an H100; the
# two runs are cut at GPU_CHECK_MEMCHECK_TIMEOUT (150) and GPU_CHECK_TIMEOUT
# (360) seconds.
set -uo pipefail

ART="${1:-}"
LOG="${OUT:-/tmp/ddpm-gpu-check}"
mkdir -p "$LOG"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU on this machine (nvidia-smi missing or failing): nothing to check"
  exit 0
fi

CHECK=""
for c in "$ART/cuda_check" "$ART/tools/cuda_check" build/tools/cuda_check; do
  if [ -n "$c" ] && [ -x "$c" ]; then CHECK="$c"; break; fi
done
if [ -z "$CHECK" ]; then
  echo "gpu-check: no cuda_check binary under '${ART}' (nor build/tools/); build it with -DDDPM_PORTABLE=ON" >&2
  exit 2
fi

echo "== nvidia-smi"
nvidia-smi 2>&1 | tee "$LOG/nvidia-smi.txt"

# cuDNN 9 and cuBLAS 13 of the Python environment (nvidia/cudnn/lib,
# nvidia/cu13/lib or nvidia/cublas/lib, or torch/lib), wherever pip put them.
PY="$(command -v python3 || command -v python || true)"
LIBDIRS=""
if [ -n "$PY" ]; then
  LIBDIRS="$("$PY" - <<'EOF' 2>/dev/null
import os
want = {"libcudnn.so.9": None, "libcublas.so.13": None, "libcublasLt.so.13": None}
def scan(root):
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f in want and want[f] is None:
                want[f] = dirpath
roots = []
try:
    import nvidia
    roots += list(getattr(nvidia, "__path__", []))
except Exception:
    pass
for r in roots:
    scan(r)
if None in want.values():
    try:
        import torch
        scan(os.path.join(os.path.dirname(torch.__file__), "lib"))
    except Exception:
        pass
dirs = []
for d in want.values():
    if d and d not in dirs:
        dirs.append(d)
print(":".join(dirs))
EOF
)"
fi
if [ -n "$LIBDIRS" ]; then
  export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "== libraries (LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-})"
ldd "$CHECK" | grep -E "cudnn|cublas|cudart|not found" | tee "$LOG/ldd.txt"
if grep -q "not found" "$LOG/ldd.txt"; then
  echo "gpu-check: cuDNN / cuBLAS not found (looked in the Python environment: '${LIBDIRS}')" >&2
  exit 2
fi

status=0

echo "== compute-sanitizer memcheck: cuda_check --ops --quick"
SAN="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
if [ -n "$SAN" ]; then
  # Heuristic algorithm choice: cudnnFind would benchmark every algorithm
  # under the sanitizer, which is slow and adds nothing.
  DDPM_CUDNN_ALGO=heuristic timeout "${GPU_CHECK_MEMCHECK_TIMEOUT:-150}" "$SAN" --tool memcheck --error-exitcode 99 --print-limit 50 \
    "$CHECK" --ops --quick 2>&1 | tee "$LOG/memcheck.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    echo "gpu-check: memcheck run FAILED (exit $rc; 99 = memcheck errors, 124 = timeout, 1 = a check failed)"
    status=1
  else
    echo "gpu-check: memcheck run clean"
  fi
else
  echo "gpu-check: compute-sanitizer not found: memcheck run skipped"
fi

echo "== cuda_check ${GPU_CHECK_ARGS:---ops --unet --train --bench --profile}"
# shellcheck disable=SC2086
timeout "${GPU_CHECK_TIMEOUT:-360}" "$CHECK" ${GPU_CHECK_ARGS:---ops --unet --train --bench --profile} 2>&1 | tee "$LOG/cuda_check.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo "gpu-check: cuda_check FAILED (exit $rc; 124 = timeout)"
  status=1
fi
grep '^{' "$LOG/cuda_check.log" > "$LOG/bench.jsonl" || true

echo "== summary"
grep -E "^FAIL" "$LOG/memcheck.log" "$LOG/cuda_check.log" 2>/dev/null || echo "no FAIL lines"
grep -E "ERROR SUMMARY" "$LOG/memcheck.log" 2>/dev/null || true
grep -E "^cuda_check: [0-9]+ checks" "$LOG/cuda_check.log" 2>/dev/null || true
echo "gpu-check: logs in $LOG; $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
