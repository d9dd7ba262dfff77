"""Decodes the JPEG-packed CIFAR-10 batches of scripts/device/pack.sh into the
official binary layout (data_batch_1..5.bin; the batches packed, 1-3 or 1-2,
repeated to fill 5, so an epoch is 50,000 images as on the full set), with Pillow.

Usage: python3 decode_cifar.py PACKED_DIR OUT_DIR
"""
import io
import os
import shutil
import struct
import sys

import numpy as np
from PIL import Image

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
packed = [i for i in (1, 2, 3) if os.path.exists(os.path.join(src, f"data_batch_{i}.bin.jpgs"))]
if not packed:
    sys.exit(f"decode_cifar: no data_batch_N.bin.jpgs in {src}")
for i in packed:
    raw = open(os.path.join(src, f"data_batch_{i}.bin.jpgs"), "rb").read()
    recs, p = [], 0
    while p < len(raw):
        label, n = struct.unpack_from("<BH", raw, p)
        p += 3
        a = np.asarray(Image.open(io.BytesIO(raw[p:p + n])).convert("RGB"), dtype=np.uint8)
        p += n
        recs.append(bytes([label]) + a.transpose(2, 0, 1).tobytes())
    open(os.path.join(dst, f"data_batch_{i}.bin"), "wb").write(b"".join(recs))
for i in range(len(packed) + 1, 6):
    shutil.copy(os.path.join(dst, f"data_batch_{packed[(i - 1) % len(packed)]}.bin"),
                os.path.join(dst, f"data_batch_{i}.bin"))
shutil.copy(os.path.join(src, "batches.meta.txt"), dst)
n = sum(os.path.getsize(os.path.join(dst, f"data_batch_{i}.bin")) for i in range(1, 6)) // 3073
print(f"decoded {n} images into {dst}")
