"""Raw vs EMA weights of kept checkpoints: does the average hide a generator that swings?

    python bench/raw_vs_ema.py --run ~/curves/curves/all_recipe_fast_seed1 --steps 1000,2000 \
        --held_out ~/curves/held_out --grids /tmp/raw_vs_ema

For each step, the run's checkpoint is scored twice against the held-out faces, as `main.py
--evaluate` scores it (the same latent vectors, the same real subset, SWD / NDB/K / MS-SSIM):
once drawing from the trained weights, once from their moving average (the run must have kept
one: `--ema`). With `--grids`, the first 64 samples of each are written as a grid
(`<step>_raw.png`, `<step>_ema.png`), so the swings can be seen.

`--average 4000,4500,5000,5500,6000` (repeatable) also scores the uniform mean of those
checkpoints' EMA weights: every `/ema` shadow, the batch-norm statistics' shadows included, is
averaged over the steps and written into a copy of the last one's checkpoint in a scratch
folder, whose EMA weights are then scored as above (row `avg 4000-6000`, grid
`avg_4000-6000_ema.png`). It approximates an EMA with a longer half-life late in training
without retraining: the run's own EMA (decay 0.999, ramped from `--ema_start` by
`model.ema_update`) forgets in a few hundred steps, while the mean of checkpoints spread over
2,000 steps weighs that whole window about evenly (each checkpoint's EMA covers the few hundred
steps before it). The steps must be kept in `--run` (a curve folder keeps
its marks, a run folder its newest `--max_to_keep`).
"""

import argparse
import os
import shutil

import common  # noqa: F401  (the checkout's dcgan first)
from common import print_table, scratch_folder

from dcgan import checkpoint_files, checkpoints, grids, metrics, runtime
from dcgan.evaluate import FAKE_Z_SEED, evaluated_z, load_real_images, real_subset, set_size
from dcgan.generator import Generator
from dcgan.settings import RUN_FILE, load

GRID_TILES = 64


def _steps(text):
    """The checkpoint steps of a comma-separated list (argparse says what is wrong)."""
    try:
        return [int(step) for step in text.split(",") if step.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "checkpoint steps, e.g. 5000,5500,6000") from None


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run folder (bench/quality.py's kept "
                        "curve folders are runs too)")
    parser.add_argument("--steps", type=_steps, default=[], help="comma-separated checkpoint "
                        "steps, each scored with its raw and its EMA weights")
    parser.add_argument("--average", type=_steps, action="append", default=[], metavar="STEPS",
                        help="comma-separated checkpoint steps whose EMA weights are averaged "
                        "and scored as one (repeatable)")
    parser.add_argument("--held_out", required=True, help="the folder of faces to score against")
    parser.add_argument("--eval_num", type=int, default=1000, help="images per scored set "
                        "(capped by half the held-out faces), as bench/quality.py's")
    parser.add_argument("--ndb_k", type=int, default=100)
    parser.add_argument("--grids", help="a folder for the grids of both weights")
    args = parser.parse_args(argv)
    if not args.steps and not args.average:
        parser.error("nothing to score: give --steps, --average or both")
    return args


def score(run, step, ema, real, eval_num, ndb_k):
    """(--evaluate's numbers, the samples) of checkpoint `step` of `run`, from the averaged
    weights (`ema` True) or the trained ones."""
    with Generator(run, checkpoint=step, ema=ema) as generator:
        fake = generator.images(z=evaluated_z(generator.settings.model, eval_num))
    return metrics.evaluate_sets(fake, real, seed=0, ndb_k=ndb_k), fake


def write_averaged_run(run, steps, folder):
    """A copy of run folder `run` in `folder` (returned) holding one checkpoint: the last of
    `steps`, with every EMA shadow replaced by its uniform mean over the checkpoints of `steps`
    (everything else, the trained weights and D included, is the last checkpoint's)."""
    tf = runtime.start()
    from dcgan.model import EMA_SUFFIX

    readers = [tf.compat.v1.train.load_checkpoint(checkpoints.pick(run, str(step)))
               for step in steps]
    values = {name: readers[-1].get_tensor(name)
              for name in readers[-1].get_variable_to_shape_map()}
    for name, value in values.items():
        if name.endswith("/" + EMA_SUFFIX):
            # Summed in float64: the float32 mean then carries no rounding of the sum.
            total = sum(reader.get_tensor(name).astype("float64") for reader in readers)
            values[name] = (total / len(readers)).astype(value.dtype)
    copy = os.path.join(folder, os.path.basename(os.path.normpath(run)))
    os.makedirs(copy)
    shutil.copyfile(os.path.join(run, RUN_FILE), os.path.join(copy, RUN_FILE))
    with tf.Graph().as_default():
        names = sorted(values)
        fed = [tf.compat.v1.placeholder(values[name].dtype) for name in names]
        save = tf.raw_ops.SaveV2(prefix=checkpoint_files.prefix_of(copy, steps[-1]),
                                 tensor_names=names, shape_and_slices=[""] * len(names),
                                 tensors=fed)
        with tf.compat.v1.Session() as session:
            session.run(save, {placeholder: values[name] for placeholder, name in zip(fed, names,
                                                                                   strict=True)})
    return copy


def _scored(args, run, step, ema, label, weights, real, size):
    """Score one generator and write its grid (`<label>_<raw|ema>.png`); returns its row."""
    result, fake = score(run, step, ema, real, size, args.ndb_k)
    row = [label, weights, f"{result['swd_avg']:.1f}", f"{result['ndb_over_k']:.3f}",
           f"{result['ms_ssim_fake']:.3f}"]
    print(*row, flush=True)
    if args.grids:
        name = f"{label}_{'ema' if ema else 'raw'}.png".replace(" ", "_")
        grids.save_image(os.path.join(args.grids, name), grids.make_grid(fake[:GRID_TILES]))
    return row


def main(argv=None):
    """Print raw vs EMA scores per step and of the averaged EMAs (and write the grids)."""
    args = _parse(argv)
    rows = []
    # The run's sizes decide how the held-out faces are read, as --evaluate reads them.
    real = load_real_images(load(args.run), args.held_out)
    size = set_size(args.eval_num, len(real), args.ndb_k, args.held_out)
    real = real_subset(real, size, FAKE_Z_SEED)
    for step in args.steps:
        for ema in (False, True):
            rows.append(_scored(args, args.run, step, ema, str(step), "EMA" if ema else "raw",
                                real, size))
    for steps in args.average:
        with scratch_folder("average") as folder:
            averaged = write_averaged_run(args.run, steps, folder)
            rows.append(_scored(args, averaged, steps[-1], True, f"avg {steps[0]}-{steps[-1]}",
                                f"EMA mean of {len(steps)}", real, size))
    print(f"\n{os.path.basename(os.path.normpath(args.run))} vs {args.held_out} "
          f"({size} images a set):")
    print_table(["step", "weights", "SWD", "NDB/K", "MS-SSIM"], rows)


if __name__ == "__main__":
    main()
