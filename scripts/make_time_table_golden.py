#!/usr/bin/env python3
"""Runs the seed notebook's `sinusoidal_embedding(n, d)` exactly as the notebook has it
(the cell's source is read from the notebook's text and executed, not copied) and writes
what TimeTableTest compares TimeTable.notebook against:

  java/src/test/resources/golden/notebook_time_table.safetensors
    rows_1000x100   I64 [R]        row indices sampled from the notebook's own table (n 1000, d 100)
    table_1000x100  F32 [R, 100]   those rows, as torch computes them
    row_sums_1000x100 F64 [1000]   every row's sum (in float64) of the whole float32 table
    table_NxD       F32 [N, D]     whole small tables: 2x3, 6x4, 7x4 (odd n: the negative
                                   indices of 1 - sin_mask land on even rows), 9x5

The whole 1000x100 table would be 400 KB; sampled rows plus every row's sum hold each row to
the 1-ulp tolerance the test uses (a sum moves by at most d ulps) in 35 KB.

Run from the repository root:
  python3 scripts/make_time_table_golden.py [--notebook ../shared/seed/000_6e5281dbff7e2660.txt]
Needs torch (CI does not: the output is committed). The file is written in the safetensors
layout directly (8-byte header length, JSON header, little-endian data), so the safetensors
package is not needed either.
"""
import argparse
import json
import os
import re
import struct
import sys

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "java", "src", "test", "resources", "golden", "notebook_time_table.safetensors")
DEFAULT_NOTEBOOK = os.path.join(ROOT, "..", "shared", "seed", "000_6e5281dbff7e2660.txt")
SMALL = [(2, 3), (6, 4), (7, 4), (9, 5)]


def notebook_function(path):
    """The notebook's `sinusoidal_embedding`, compiled from its cell in the notebook's text."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^def\s+sinusoidal_embedding\(.*?(?=^\S)", text, re.S | re.M)
    if m is None:
        sys.exit(f"{path}: no cell defining sinusoidal_embedding")
    source = m.group(0)
    print("running the notebook's cell:\n" + source.rstrip())
    scope = {"torch": torch}
    exec(compile(source, path, "exec"), scope)
    return scope["sinusoidal_embedding"]


def write_safetensors(path, tensors):
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes()  # little-endian: checked in main
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebook", default=DEFAULT_NOTEBOOK, help="the seed notebook's text (default: %(default)s)")
    args = ap.parse_args()
    if sys.byteorder != "little":
        sys.exit("safetensors data is little-endian; run this on a little-endian machine")
    emb = notebook_function(args.notebook)

    full = emb(1000, 100)
    assert full.dtype == torch.float32, full.dtype
    rows = sorted(set(range(0, 8)) | set(range(1000 - 8, 1000)) | set(range(0, 1000, 40)) | set(range(1, 1000, 40)))
    rows = torch.tensor(rows, dtype=torch.int64)
    out = {
        "rows_1000x100": rows,
        "table_1000x100": full[rows],
        "row_sums_1000x100": full.double().sum(dim=1),
    }
    for n, d in SMALL:
        out[f"table_{n}x{d}"] = emb(n, d)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_safetensors(OUT, out)

    print(f"n 1000, d 100: values in [{full.min():.4f}, {full.max():.4f}]; row 1 starts {full[1, :3].tolist()}")
    print(f"wrote {len(out)} tensors ({len(rows)} sampled rows) to {os.path.relpath(OUT, ROOT)} "
          f"({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
