# Sourced (". scripts/cuda-libs.sh"): puts the folders of cuDNN 9, cuBLAS 13
# and NVRTC 13 (cuDNN's runtime-compiled engines load it) of the Python
# environment (nvidia/cudnn/lib, nvidia/cu13/lib or nvidia/cublas/lib, or
# torch/lib), wherever pip put them, in front of LD_LIBRARY_PATH and in
# LIBDIRS. A library it does not find is left to the system's search.
PY="$(command -v python3 || command -v python || true)"
LIBDIRS=""
if [ -n "$PY" ]; then
  LIBDIRS="$("$PY" - <<'EOF' 2>/dev/null
import os
want = {"libcudnn.so.9": None, "libcublas.so.13": None, "libcublasLt.so.13": None, "libnvrtc.so.13": None}
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
