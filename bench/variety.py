"""Where a generator's samples are less varied than real faces: MS-SSIM per scale, and the
share of fine detail that every sample draws in the same place.

    python bench/variety.py --held_out ~/curves/held_out \
        ~/curves/curves/all_lr_half_life_1500_seed1:3000 \
        ~/curves/curves/all_lr_half_life_1500_seed1:6000 --pictures /tmp/variety

Each RUN[:STEP] (a run folder, bench/quality.py's kept curve folders included; the newest
checkpoint without a step) draws the latent vectors `main.py --evaluate` draws (its averaged
weights when it kept them), and so do the held-out faces' real subset, as `--evaluate` picks
it. Per set, one row:

- MS-SSIM of random pairs (`--evaluate`'s number) and its per-scale terms, finest first
  (`metrics.ms_ssim_diversity_terms`; the coarsest also compares brightness). Pairs of real
  faces share little fine structure; a scale whose term sits far above the real one is where
  the samples repeat themselves.
- The shared fine detail: each image's luminance minus its Gaussian blur (sigma 1 px: edges,
  eyes, strands of hair), averaged over the set. Real faces put their eyes and edges in
  different places, so the mean of their detail nearly cancels; a generator that draws one
  layout of edges under every face leaves it standing. `shared` is the mean detail's energy
  over one image's, `corr` the mean correlation of an image's detail with it. With
  `--pictures`, each set's mean detail is written enlarged 8x (`<name>_<step>_shared.png`,
  grey = none, on one scale for every set), so the repeated layout can be seen.
"""

import argparse
import os

import common  # noqa: F401  (the checkout's dcgan first)
import numpy as np
from common import print_table
from scipy import ndimage

from dcgan import grids, metrics
from dcgan.evaluate import FAKE_Z_SEED, evaluated_z, load_real_images, real_subset, set_size
from dcgan.generator import Generator

DETAIL_SIGMA = 1.0  # px: what the blur removes is the detail (edges, eyes, hair strands)
ENLARGE = 8


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", metavar="RUN[:STEP]",
                        help="a run folder and checkpoint step (newest without one)")
    parser.add_argument("--held_out", required=True, help="the folder of faces to score against")
    parser.add_argument("--eval_num", type=int, default=1000, help="images per set")
    parser.add_argument("--pairs", type=int, default=1000, help="MS-SSIM pairs per set")
    parser.add_argument("--pictures", help="a folder for each set's mean detail, enlarged")
    return parser.parse_args(argv)


def shared_detail(images):
    """(the set's mean detail as an (H, W) array, its energy over one image's detail's, the
    mean correlation of an image's detail with it, one image's detail's root-mean-square),
    detail being luminance minus its blur."""
    luminance = images.astype(np.float64).mean(axis=-1)
    detail = luminance - ndimage.gaussian_filter(luminance, (0, DETAIL_SIGMA, DETAIL_SIGMA))
    mean, energy = detail.mean(axis=0), (detail**2).mean()
    flat, centred = detail.reshape(len(detail), -1), mean.ravel() - mean.mean()
    flat = flat - flat.mean(axis=1, keepdims=True)
    corr = (flat @ centred) / (np.linalg.norm(flat, axis=1) * np.linalg.norm(centred))
    return mean, float((mean**2).mean() / energy), float(corr.mean()), float(np.sqrt(energy))


def _picture(mean, detail_rms):
    """The mean detail as an enlarged uint8 picture: grey is none, and white or black is two
    root-mean-squares of one image's detail, so pictures of different sets compare."""
    grey = np.clip(np.rint(127.5 + 127.5 * mean / (2 * detail_rms)), 0, 255).astype(np.uint8)
    return grids.enlarge(grey[..., None].repeat(3, axis=-1), ENLARGE)


def _row(label, images, args):
    terms = metrics.ms_ssim_diversity_terms(images, args.pairs)
    mean, share, corr, detail_rms = shared_detail(images)
    if args.pictures:
        name = label.replace(":", "_").replace(" ", "_") + "_shared.png"
        grids.save_image(os.path.join(args.pictures, name), _picture(mean, detail_rms))
    score = metrics.ms_ssim_from_terms(terms).mean()
    return [label, f"{score:.3f}", *(f"{t:.3f}" for t in terms.mean(axis=0)), f"{share:.3f}",
            f"{corr:.3f}"]


def _split(item):
    """RUN[:STEP] as (run folder, step or None)."""
    run, _, step = item.rpartition(":")
    if run and step.isdigit():
        return run, int(step)
    return item, None


def main(argv=None):
    """Print the per-scale MS-SSIM and the shared detail of the real faces and of each set."""
    args = _parse(argv)
    rows, real = [], None
    for item in args.sets:
        run, step = _split(item)
        with Generator(run, checkpoint=step) as generator:
            if real is None:  # read as the first run's --evaluate reads them
                faces = load_real_images(generator.settings, args.held_out)
                size = set_size(args.eval_num, len(faces), 1, args.held_out)
                real = real_subset(faces, size, FAKE_Z_SEED)
                rows.append(_row("held-out faces", real, args))
            fake = generator.images(z=evaluated_z(generator.settings.model, size))
            label = f"{os.path.basename(os.path.normpath(run))}:{generator.step}"
        rows.append(_row(label, fake, args))
        print(*rows[-1], flush=True)
    scales = [f"term {s}" for s in range(len(rows[0]) - 4)]
    print_table(["set", "MS-SSIM", *scales, "shared", "corr"], rows)


if __name__ == "__main__":
    main()
