#!/usr/bin/env python3
"""Golden files for ddpm4j's picture resampling (data/Resampler.java) from Pillow's own.

Writes java/src/test/resources/golden/resize/: a random RGB picture (input.png, 61x43),
a small one (small.png, 7x5), a grey one (grey.png, 40x40, mode L), and Pillow's
Image.resize(..., Image.BILINEAR) of them -- the antialiased bilinear filter (support
grows with the reduction), horizontal then vertical pass, each rounded to 8 bits:
  stretch-32.png  input.png, the whole picture to 32x32 (aspect not kept)
  crop-32.png     input.png, its centred 43x43 square (box (9, 0, 52, 43)) to 32x32
  crop-up-32.png  small.png, its centred 5x5 square (box (1, 0, 6, 5)) to 32x32 (enlarging)
  stretch-13x9.png input.png to 13x9
  grey-crop-16.png grey.png to 16x16
ImageFolderPixelTest compares ddpm4j's results with these, bit for bit.

  python3 scripts/make_resize_golden.py    (Pillow 12.3 wrote the committed files)
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "java", "src", "test", "resources", "golden", "resize")


def centred_square(w, h):
    side = min(w, h)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    return (left, top, left + side, top + side)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261128)
    big = Image.fromarray(rng.integers(0, 256, size=(43, 61, 3), dtype=np.uint8), "RGB")
    small = Image.fromarray(rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8), "RGB")
    grey = Image.fromarray(rng.integers(0, 256, size=(40, 40), dtype=np.uint8), "L")
    big.save(os.path.join(OUT, "input.png"))
    small.save(os.path.join(OUT, "small.png"))
    grey.save(os.path.join(OUT, "grey.png"))
    big.resize((32, 32), Image.BILINEAR).save(os.path.join(OUT, "stretch-32.png"))
    big.resize((32, 32), Image.BILINEAR, box=centred_square(*big.size)).save(os.path.join(OUT, "crop-32.png"))
    small.resize((32, 32), Image.BILINEAR, box=centred_square(*small.size)).save(os.path.join(OUT, "crop-up-32.png"))
    big.resize((13, 9), Image.BILINEAR).save(os.path.join(OUT, "stretch-13x9.png"))
    grey.resize((16, 16), Image.BILINEAR, box=centred_square(*grey.size)).save(os.path.join(OUT, "grey-crop-16.png"))


if __name__ == "__main__":
    main()
