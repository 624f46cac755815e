"""Raw vs EMA weights of kept checkpoints: does the average hide a generator that swings?

    python bench/raw_vs_ema.py --run ~/curves/curves/all_recipe_fast_seed1 --steps 1000,2000 \
        --held_out ~/curves/held_out --grids /tmp/raw_vs_ema

For each step, the run's checkpoint is scored twice against the held-out faces, as `main.py
--evaluate` scores it (the same latent vectors, the same real subset, SWD / NDB/K / MS-SSIM):
once drawing from the trained weights, once from their moving average (the run must have kept
one: `--ema`). With `--grids`, the first 64 samples of each are written as a grid
(`<step>_raw.png`, `<step>_ema.png`), so the swings can be seen.
"""

import argparse
import os

import common  # noqa: F401  (the checkout's dcgan first)
from common import print_table

from dcgan import grids, metrics
from dcgan.evaluate import FAKE_Z_SEED, evaluated_z, load_real_images, real_subset, set_size
from dcgan.generator import Generator
from dcgan.settings import load

GRID_TILES = 64


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder (bench/quality.py's kept "
                        "curve folders are runs too)")
    parser.add_argument("--steps", required=True, help="comma-separated checkpoint steps")
    parser.add_argument("--held_out", required=True, help="the folder of faces to score against")
    parser.add_argument("--eval_num", type=int, default=1000, help="images per scored set "
                        "(capped by half the held-out faces), as bench/quality.py's")
    parser.add_argument("--ndb_k", type=int, default=100)
    parser.add_argument("--grids", help="a folder for the grids of both weights")
    return parser.parse_args(argv)


def score(run, step, ema, real, eval_num, ndb_k):
    """(--evaluate's numbers, the samples) of checkpoint `step` of `run`, from the averaged
    weights (`ema` True) or the trained ones."""
    with Generator(run, checkpoint=step, ema=ema) as generator:
        fake = generator.images(z=evaluated_z(generator.settings.model, eval_num))
    return metrics.evaluate_sets(fake, real, seed=0, ndb_k=ndb_k), fake


def main(argv=None):
    """Print raw vs EMA scores per step (and write the grids)."""
    args = _parse(argv)
    rows = []
    # The run's sizes decide how the held-out faces are read, as --evaluate reads them.
    real = load_real_images(load(args.run), args.held_out)
    size = set_size(args.eval_num, len(real), args.ndb_k, args.held_out)
    real = real_subset(real, size, FAKE_Z_SEED)
    for step in [int(s) for s in args.steps.split(",")]:
        for ema in (False, True):
            result, fake = score(args.run, step, ema, real, size, args.ndb_k)
            weights = "EMA" if ema else "raw"
            rows.append([step, weights, f"{result['swd_avg']:.1f}", f"{result['ndb_over_k']:.3f}",
                         f"{result['ms_ssim_fake']:.3f}"])
            print(*rows[-1], flush=True)
            if args.grids:
                grids.save_image(os.path.join(args.grids, f"{step}_{weights.lower()}.png"),
                                 grids.make_grid(fake[:GRID_TILES]))
    print(f"\n{os.path.basename(os.path.normpath(args.run))} vs {args.held_out} "
          f"({size} images a set):")
    print_table(["step", "weights", "SWD", "NDB/K", "MS-SSIM"], rows)


if __name__ == "__main__":
    main()
