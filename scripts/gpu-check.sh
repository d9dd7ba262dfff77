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
# It prints nvidia-smi, runs `test_backend_ops --backend cuda --quick` (every
# op of ops.def against the CPU, in fp32, tf32 and bf16, smaller shapes) under
# compute-sanitizer's memcheck (any memcheck error fails the script), then
# test_backend_ops in full, then cuda_check (UNet, training curves and step
# graphs, timings, a per-op profile; each in fp32 and in precision bf16), or
# cuda_check with GPU_CHECK_ARGS. Logs go to $OUT when set, else to
# /tmp/ddpm-gpu-check. cuDNN and cuBLAS are taken from the Python environment
# there (the NVIDIA wheels PyTorch uses), found below. Without a GPU it says
# so and exits 0. About 3-5 minutes on an H100; the three runs are cut at
# GPU_CHECK_MEMCHECK_TIMEOUT (150), GPU_CHECK_OPS_TIMEOUT (180) and
# GPU_CHECK_TIMEOUT (360) seconds.
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
ldd "$CHECK" "$OPS" | grep -E "cudnn|cublas|cudart|not found" | tee "$LOG/ldd.txt"
if grep -q "not found" "$LOG/ldd.txt"; then
  echo "gpu-check: cuDNN / cuBLAS not found (looked in the Python environment: '${LIBDIRS}')" >&2
  exit 2
fi

status=0

echo "== compute-sanitizer memcheck: test_backend_ops --backend cuda --quick"
SAN="$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)"
if [ -n "$SAN" ]; then
  # Heuristic algorithm choice: cudnnFind would benchmark every algorithm
  # under the sanitizer, which is slow and adds nothing.
  DDPM_CUDNN_ALGO=heuristic timeout "${GPU_CHECK_MEMCHECK_TIMEOUT:-150}" "$SAN" --tool memcheck --error-exitcode 99 --print-limit 50 \
    "$OPS" --backend cuda --precision all --quick 2>&1 | tee "$LOG/memcheck.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    echo "gpu-check: memcheck run FAILED (exit $rc; 99 = memcheck errors, 124 = timeout, 1 = a check failed, 77 = no usable GPU)"
    status=1
  else
    echo "gpu-check: memcheck run clean"
  fi
else
  echo "gpu-check: compute-sanitizer not found: memcheck run skipped"
fi

echo "== test_backend_ops --backend cuda --precision all"
timeout "${GPU_CHECK_OPS_TIMEOUT:-180}" "$OPS" --backend cuda --precision all 2>&1 | tee "$LOG/ops.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo "gpu-check: test_backend_ops FAILED (exit $rc; 124 = timeout, 77 = no usable GPU)"
  status=1
fi

echo "== cuda_check ${GPU_CHECK_ARGS:---unet --train --bench --profile}"
# shellcheck disable=SC2086
timeout "${GPU_CHECK_TIMEOUT:-360}" "$CHECK" ${GPU_CHECK_ARGS:---unet --train --bench --profile} 2>&1 | tee "$LOG/cuda_check.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
  echo "gpu-check: cuda_check FAILED (exit $rc; 124 = timeout)"
  status=1
fi
grep '^{' "$LOG/cuda_check.log" > "$LOG/bench.jsonl" || true

echo "== summary"
grep -E "^FAIL" "$LOG/memcheck.log" "$LOG/ops.log" "$LOG/cuda_check.log" 2>/dev/null || echo "no FAIL lines"
grep -E "ERROR SUMMARY" "$LOG/memcheck.log" 2>/dev/null || true
grep -E "^cuda (fp32|tf32|bf16): [0-9]+ checks" "$LOG/ops.log" 2>/dev/null || true
grep -E "^cuda_check: [0-9]+ checks" "$LOG/cuda_check.log" 2>/dev/null || true
echo "gpu-check: logs in $LOG; $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
