"""How close a generator's images are to the real ones (`python main.py --evaluate`).

Generated images are compared with real images of the run's dataset (or another folder) by
`dcgan.metrics`: SWD, NDB/K and JS, each beside the same number between two disjoint halves of
the real images (the floor a perfect generator would reach at that N), and MS-SSIM diversity.
`dcgan.memorisation` adds whether the samples sit closer to the training images than real ones.
`TrainingEvaluator` does the same inside the training loop (`--eval_freq`) with a smaller set.
"""

import json
import logging
import os
import re
import zlib

import numpy as np
import tensorflow as tf

from dcgan import data, durable, grids, latent, memorisation, metrics
from dcgan.errors import UsageError
from dcgan.generator import Generator
from dcgan.progress import Stages
from dcgan.session import run_sampler
from dcgan.settings import EVAL_NUM, TRAIN_EVAL_NUM

tf1 = tf.compat.v1
log = logging.getLogger(__name__)

FAKE_Z_SEED = 6  # the evaluated latent vectors (and real subset) stay the same run to run
# Headline numbers written to TensorBoard and the progress log, with their tags.
SUMMARY_KEYS = {"swd_avg": "eval/swd", "swd_floor_avg": "eval/swd_real_floor",
                "ndb_over_k": "eval/ndb_over_k", "ndb_js": "eval/ndb_js",
                "ms_ssim_fake": "eval/ms_ssim", "ms_ssim_real": "eval/ms_ssim_real"}


def load_real_images(settings, eval_data=None):
    """The uint8 real images to compare with: the run's dataset, or the folder `eval_data`.

    Both go through the uint8 cache, decoded with the run's crop and size.
    """
    if eval_data:  # a first evaluation of a big folder decodes it: that has its own bar
        return data.load_folder(eval_data, settings.spec, cache_dir=settings.cache_dir).images
    return data.load(settings.dataset_folder, settings.spec, settings.input_fname_pattern,
                     settings.is_mnist, cache_dir=settings.cache_dir).images


def set_size(wanted, real_count, ndb_k, source):
    """Images per compared set: `wanted`, capped by half the real images (the floor needs two
    disjoint halves); raises UsageError when that leaves fewer than NDB's `ndb_k` bins, and
    warns when it leaves too few a bin for NDB to mean anything."""
    size = min(wanted, real_count // 2)
    if size < ndb_k:
        raise UsageError(f"{source} has {real_count} real images; the comparison needs "
                         f"2 x --ndb_k = {2 * ndb_k} at least (and --eval_num >= --ndb_k): add "
                         "images, or lower --ndb_k")
    if not metrics.ndb_meaningful(size, ndb_k):
        enough = metrics.NDB_MIN_PER_BIN * ndb_k
        log.warning("%d images in %d NDB bins is %.1f a bin: with fewer than %d, NDB/K cannot "
                    "flag even a bin the generator never fills, so its number means nothing "
                    "(use --ndb_k %d or less%s)", size, ndb_k, size / ndb_k,
                    metrics.NDB_MIN_PER_BIN, max(1, size // metrics.NDB_MIN_PER_BIN),
                    f", or --eval_num {enough}" if real_count // 2 >= enough else "")
    return size


def evaluated_z(cfg, size, seed=0):
    """The `size` latent vectors --evaluate --seed `seed` draws for the network `cfg`: the
    same run to run, so scores of checkpoints compare like for like."""
    return latent.sample_z(np.random.default_rng(seed + FAKE_Z_SEED), size, cfg.z_dim,
                           cfg.z_dist)


def real_subset(real, size, seed=FAKE_Z_SEED):
    """`2 * size` real images drawn without replacement (seeded), as one in-memory array."""
    chosen = np.sort(np.random.default_rng(seed).choice(len(real), 2 * size, replace=False))
    return np.ascontiguousarray(real[chosen])


def summary_of(result):
    """A TensorBoard Summary proto of the headline numbers of an `evaluate_sets` result."""
    return tf1.Summary(value=[tf1.Summary.Value(tag=tag, simple_value=float(result[key]))
                              for key, tag in SUMMARY_KEYS.items()])


def one_line(result):
    """The headline numbers in one log line."""
    return (f"SWD {result['swd_avg']:.2f} (real floor {result['swd_floor_avg']:.2f}), "
            f"NDB/K {result['ndb_over_k']:.3f} (floor {result['ndb_over_k_floor']:.3f}), "
            f"JS {result['ndb_js']:.4f}, MS-SSIM {result['ms_ssim_fake']:.3f} "
            f"(real {result['ms_ssim_real']:.3f})")


def record_name(step, result, seed, eval_data=None):
    """`eval_<step>_n<N>_k<K>_seed<s>[_<folder>-<hash>].json`: one file per checkpoint and
    evaluation settings, so an evaluation with other settings never overwrites another's."""
    name = f"eval_{step:05d}_n{result['n']}_k{result['ndb_bins']}_seed{seed}"
    if eval_data:  # the folder's name, and a hash of its full path: two data/faces differ
        where = os.path.realpath(eval_data)
        digest = zlib.crc32(where.encode()) & 0xFFFF
        name += f"_{re.sub(r'[^A-Za-z0-9_-]', '', os.path.basename(where))}-{digest:04x}"
    return name + ".json"


def evaluate(settings, eval_num=None, eval_data=None, seed=0, checkpoint=None):
    """Compare the newest checkpoint's images (or the `checkpoint` path's) with real ones;
    print and save the numbers.

    `eval_num` images per set (default `EVAL_NUM`, capped by half the real images).
    Also runs the memorisation check against the run's training images and writes its grid of
    the closest samples beside their nearest training image (`nearest_....png` beside the JSON).
    Returns (result dict, path of the JSON written under the run's sample folder).
    """
    real = load_real_images(settings, eval_data)
    training = _training_images(settings) if eval_data else real
    source = eval_data or settings.dataset_folder
    size = set_size(eval_num or EVAL_NUM, len(real), settings.ndb_k, source)
    real = real_subset(real, size, seed + FAKE_Z_SEED)
    cfg = settings.model
    z = evaluated_z(cfg, size, seed)
    with Stages("evaluate", ["restore", "generate", "SWD", "NDB", "MS-SSIM"]) as stage:
        with Generator(settings, checkpoint=checkpoint) as generator:
            stage("generate")
            fake = generator.images(z=z)
            step, ema = generator.step, generator.ema
        result = metrics.evaluate_sets(fake, real, seed=seed, ndb_k=settings.ndb_k,
                                       on_stage=stage)
    print(f"{settings.run_name} step {step}{' (EMA weights)' if ema else ''} vs {source}:")
    print(metrics.format_report(result))
    name = record_name(step, result, seed, eval_data)
    if training is not None:  # held out: the --eval_data pictures, else leave-one-out
        copies, pairs = memorisation.check(fake, training, real if eval_data else None, seed)
        result.update(copies)
        print(memorisation.format_report(result))
        grids.save_image(os.path.join(settings.run_sample_dir, name.replace("eval_", "nearest_", 1)
                                      .removesuffix(".json") + ".png"),
                         memorisation.pairs_grid(pairs))
    record = {"run": settings.run_name, "step": step, "ema": ema, "real_images": source,
              "ndb_meaningful": metrics.ndb_meaningful(result["n"], result["ndb_bins"]),
              **result}
    path = os.path.join(settings.run_sample_dir, name)
    os.makedirs(settings.run_sample_dir, exist_ok=True)
    durable.write_atomically(path, json.dumps(record, indent=2).encode())
    return result, path


def _training_images(settings):
    """The run's training images for the memorisation check; None, with a warning, where they
    are not on this machine (an --eval_data evaluation does not need them otherwise)."""
    try:
        return load_real_images(settings)
    except UsageError as error:
        log.warning("memorisation check skipped: %s", error)
        return None


class TrainingEvaluator:
    """Evaluates the in-graph sampler during training on a fixed, smaller set (`--eval_freq`).

    The real subset and latent vectors are chosen once, so numbers at different steps compare.
    """

    def __init__(self, settings, training_images):
        self.settings = settings
        size = set_size(settings.eval_num or TRAIN_EVAL_NUM, len(training_images),
                        settings.ndb_k, settings.dataset_folder)
        self.real = real_subset(training_images, size)
        self.z = evaluated_z(settings.model, size)

    def evaluate(self, session, sampler):
        """The metrics of `sampler`'s images in `session` against the fixed real subset."""
        fake = grids.to_uint8(run_sampler(session, sampler, self.z))
        return metrics.evaluate_sets(fake, self.real, ndb_k=self.settings.ndb_k)

    def __call__(self, session, sampler, step, writer):
        """Evaluate at `step`: TensorBoard scalars (if `writer`) and one log line."""
        result = self.evaluate(session, sampler)
        if writer is not None:
            writer.add_summary(summary_of(result), step)
            writer.flush()
        log.info("eval step %d: %s", step, one_line(result))
        return result
