#!/usr/bin/env bash
# Prepares everything a GPU device run needs in .device/ and .device-sweep/
# (both git-ignored), here, on the development machine, so the device's
# minutes go to checks only:
#   .device/ddpm4j-<version>.tar.gz   the self-contained distribution (jlink'd
#                                      Java, portable native libraries with CUDA)
#   .device/cifar-jpeg/                CIFAR-10 training batches 1-3 re-encoded as
#                                      JPEG (quality 75, the source format; pixels
#                                      move ~0.15 levels on average), ~27 MB
#   .device-sweep/test_backend_ops.gz, cuda_check.gz, cuda_fusion_probe.gz
#                                      the native GPU checks, portable
#   .device-all/                       both, CIFAR-10 batches 1-2 only, for
#                                      run.sh all (final + compare in one call)
# The device tool carries at most 64 MiB a call, the tracked tree included:
# each folder stays under it with the tree (checked below), so a call carries
# one of them. Then, on the device (see scripts/device/run.sh):
#   run(command="bash scripts/device/run.sh all .device-all", carry=[".device-all"], timeout_s=590)
#   run(command="bash scripts/device/run.sh final .device-sweep", carry=[".device-sweep"])
#   run(command="bash scripts/device/run.sh compare .device", carry=[".device"])
#   run(command="bash scripts/device/run.sh java .device", carry=[".device"])
#
# Usage: scripts/device/pack.sh [--no-build]   (CIFAR from $DDPM_CIFAR_DIR or ../shared)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dev=$root/.device
checks=$root/.device-sweep
all=$root/.device-all
rm -rf "$dev" "$checks" "$all" && mkdir -p "$dev" "$checks"

if [ "${1:-}" != "--no-build" ]; then
  scripts/make-dist.sh   # the portable build (x86-64-v2 CPU code, CUDA sm_80/sm_90 + PTX) and its tarball
fi
version=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' pom.xml | head -1)
cp "dist/ddpm4j-$version.tar.gz" "$dev/"
for t in tests/test_backend_ops tools/cuda_check tools/cuda_fusion_probe; do
  b=java/target/native-build/$t
  [ -x "$b" ] || { echo "pack: $b is missing: the build did not make the CUDA checks (is nvcc there?)" >&2; exit 1; }
  gzip -9 -c "$b" > "$checks/$(basename "$t").gz"   # a third of the size; run.sh unpacks them
done

cifar=${DDPM_CIFAR_DIR:-$root/../shared/data/cifar-10-batches-bin}
[ -f "$cifar/data_batch_1.bin" ] || { echo "pack: no CIFAR-10 at $cifar (set DDPM_CIFAR_DIR)" >&2; exit 1; }
mkdir -p "$dev/cifar-jpeg"
cp "$cifar/batches.meta.txt" "$dev/cifar-jpeg/"
python3 - "$cifar" "$dev/cifar-jpeg" <<'PY'
# Each record: label (1 byte), JPEG length (uint16 LE), the JPEG of the 32x32 RGB image.
import io, struct, sys
import numpy as np
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
for i in (1, 2, 3):
    raw = np.fromfile(f"{src}/data_batch_{i}.bin", dtype=np.uint8).reshape(-1, 3073)
    out = bytearray()
    for rec in raw:
        img = Image.fromarray(rec[1:].reshape(3, 32, 32).transpose(1, 2, 0))
        b = io.BytesIO()
        img.save(b, format="JPEG", quality=75)
        out += struct.pack("<BH", int(rec[0]), b.tell()) + b.getvalue()
    open(f"{dst}/data_batch_{i}.bin.jpgs", "wb").write(out)
print("pack: CIFAR-10 batches 1-3 as JPEG:", sum(len(open(f"{dst}/data_batch_{i}.bin.jpgs", "rb").read()) for i in (1, 2, 3)) // 1024, "KiB")
PY
# Everything for one call, as hard links: the checks, the distribution, and
# CIFAR-10 batches 1-2 (decode_cifar.py repeats them to 50,000 images).
mkdir -p "$all/cifar-jpeg"
ln "$checks"/*.gz "$dev"/ddpm4j-*.tar.gz "$all/"
ln "$dev/cifar-jpeg/batches.meta.txt" "$dev/cifar-jpeg/data_batch_1.bin.jpgs" "$dev/cifar-jpeg/data_batch_2.bin.jpgs" "$all/cifar-jpeg/"
# The tool carries the tracked working tree too, within the same 64 MiB.
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for d in "$dev" "$checks" "$all"; do
  total=$(( $(du -sb "$d" | cut -f1) + tree ))
  echo "pack: $(basename "$d") and the tracked tree hold $((total / 1048576)) MiB (the device tool carries at most 64)"
  [ "$total" -lt $((63 * 1048576)) ] || { echo "pack: $(basename "$d") is too large to carry" >&2; exit 1; }
done
