"""Writes the small folder the benchmarks judge kregs on: 1,797 handwritten digits.

scikit-learn's copy of the UCI optical digits (8x8, 17 grey levels, bundled with
scikit-learn, so no download) as 24x24 PNG files in the layout `kregs --data` reads:
`FOLDER/train/<digit>/NNNN.png` (1,497 images) and `FOLDER/test/<digit>/NNNN.png` (300,
the first 300 of a seed-0 permutation); NNNN is the image's index in scikit-learn's
order. Each 8x8 image is scaled to 0-255 (value * 255 / 16) and resized bilinearly.

Usage: python bench/digits_folder.py [FOLDER]   (default /tmp/digits)
"""

import os
import sys

import numpy as np

TEST_IMAGES = 300
SIZE = 24


def write_digits(folder):
    """Writes the folder (refuses one that exists); returns `{split: images written}`."""
    from PIL import Image
    from sklearn.datasets import load_digits

    if os.path.exists(folder):
        raise SystemExit(f"{folder} exists: give a new folder")
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    split = {int(i): "test" for i in order[:TEST_IMAGES]}
    counts = {"train": 0, "test": 0}
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        where = split.get(i, "train")
        path = os.path.join(folder, where, str(label))
        os.makedirs(path, exist_ok=True)
        pixels = np.round(image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((SIZE, SIZE), Image.BILINEAR).save(
            os.path.join(path, f"{i:04d}.png")
        )
        counts[where] += 1
    return counts


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "/tmp/digits"
    written = write_digits(target)
    print(f"{target}: {written['train']} training and {written['test']} test images")
