"""Time dcgan.metrics on real anime faces and print each SWD beside its real-vs-real floor.

Usage: python bench/metrics_speed.py [--n 1024] [--size 48]
Reads the shared faces beside the checkout (bench/common.py; needs 3 * n images).
"""

import argparse
import sys
import time

import numpy as np
from common import face_names, need_faces
from PIL import Image
from scipy import ndimage

from dcgan import metrics


def load_faces(count, size):
    """The first `count` shared faces resized to `size` px, as one uint8 array."""
    names = face_names()[:count]
    if len(names) < count:
        sys.exit(f"need {count} images in {need_faces()}, found {len(names)}")
    return np.stack([np.asarray(Image.open(need_faces() / name).convert("RGB").resize(
        (size, size), Image.BILINEAR)) for name in names])


def timed(label, fn):
    start = time.perf_counter()
    value = fn()
    print(f"{label:<40} {time.perf_counter() - start:6.2f} s")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="images per compared set")
    parser.add_argument("--size", type=int, default=48, help="image side in pixels")
    args = parser.parse_args()
    faces = load_faces(3 * args.n, args.size)
    ref, other, rest = faces[:args.n], faces[args.n:2 * args.n], faces[2 * args.n:]
    # Blurred real faces stand in for a generator's soft samples.
    blurred = ndimage.gaussian_filter(rest.astype(np.float64), sigma=(0, 1, 1, 0))
    fake = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, ref.shape, dtype=np.uint8)
    for name, images in (("real vs real (floor)", other), ("blurred real, sigma 1", fake),
                         ("uniform noise", noise)):
        result = timed(f"SWD {name}, N={args.n}", lambda images=images: metrics.swd(images, ref))
        print("   ", {k: round(v, 2) for k, v in result.items()})
    bins = timed("NDB k-means fit (K=100)", lambda: metrics.ndb_fit(ref))
    timed("NDB score", lambda: metrics.ndb_score(bins, fake))
    timed("MS-SSIM diversity, 1000 pairs", lambda: metrics.ms_ssim_diversity(fake))
    result = timed("evaluate_sets (fake vs 2N real)",
                   lambda: metrics.evaluate_sets(fake, faces[:2 * args.n]))
    print(metrics.format_report(result))


if __name__ == "__main__":
    main()
