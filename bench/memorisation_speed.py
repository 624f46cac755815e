"""Time the memorisation check (`dcgan.memorisation`) at 50,000 training images, and show what
its numbers say on real anime faces: new faces, copies, and blurred versions of each.

Usage: python bench/memorisation_speed.py [--training 50000] [--samples 2048] [--size 48]
Reads ../shared/data/anime_faces beside the checkout (12,000 faces; the timed training set
repeats them, flipped and shifted, up to --training: the time does not depend on the faces).
"""

import argparse
import tempfile
import time

import numpy as np
from common import machine_line, print_table, scratch_faces
from scipy import ndimage

from dcgan import memorisation

HELD_OUT = 2000  # faces kept out of the calibration's training set


def variants(faces, count):
    """`count` pictures made from `faces`: themselves, mirrored, and shifted by a pixel."""
    made = [faces, faces[:, :, ::-1], np.roll(faces, 1, axis=1), np.roll(faces, 1, axis=2),
            np.roll(faces[:, :, ::-1], 1, axis=1)]
    return np.concatenate(made)[:count]


def blurred(faces):
    """Faces blurred as a generator's soft samples are (sigma 1 px)."""
    soft = ndimage.gaussian_filter(faces.astype(np.float64), sigma=(0, 1, 1, 0))
    return np.clip(np.rint(soft), 0, 255).astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training", type=int, default=50000, help="timed training images")
    parser.add_argument("--samples", type=int, default=2048, help="samples checked")
    parser.add_argument("--size", type=int, default=48, help="image side in pixels")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as scratch:  # decoded as --evaluate reads them
        faces = np.array(scratch_faces(scratch, 12000, args.size).images)
    training = variants(faces, args.training)
    samples = blurred(faces[:args.samples])
    start = time.perf_counter()
    memorisation.check(samples, training)
    print(f"check: {args.samples} samples vs {len(training)} training images "
          f"({args.size} px): {time.perf_counter() - start:.2f} s")

    known, unseen = faces[:-HELD_OUT], faces[-HELD_OUT:]
    noise = np.random.default_rng(0).integers(-4, 5, known[:args.samples].shape)
    cases = {
        "new faces (held-out real)": unseen,
        "new faces, blurred": blurred(unseen),
        "copies (training faces, +-4 noise)": np.clip(known[:args.samples] + noise, 0,
                                                      255).astype(np.uint8),
        "copies, blurred": blurred(known[:args.samples]),
        "copies, mirrored": known[:args.samples, :, ::-1],
    }
    print(f"\ncalibration: {len(known)} faces as the training set ({args.size} px)")
    rows = []
    for name, images in cases.items():
        result, _ = memorisation.check(images[:args.samples], known)
        rows.append([name, f"{result['nearest_fake_median']:.4f}",
                     f"{result['nearest_real_median']:.4f}",
                     f"{100 * result['nearest_fake_below_real_p5']:.1f}%"])
    print_table(["samples", "median", "real median", "closer than 95% of real"], rows)


if __name__ == "__main__":
    main()
