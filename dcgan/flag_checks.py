"""The flags' checks, and the checked flags built into a run's settings for training.

Each check raises UsageError naming the flag and the fix, before TensorFlow loads.
"""

import dataclasses
import math

from dcgan import cluster, latent, recipes
from dcgan.data import MNIST, MNIST_CLASSES, MNIST_SIZE
from dcgan.errors import require, require_positive
from dcgan.network import G_KERNELS, ModelConfig
from dcgan.precision import PRECISIONS
from dcgan.settings import Budget, RunSettings

MIN_OUTPUT_SIZE = 8
DEFAULT_OUTPUT_SIZE = 64  # a picture folder's output side when no size flag is given
# Seeds are 32-bit (the web page's generator); half the range leaves room for seed + i.
MAX_SEED = 2 ** 31
# Images one request may draw at once (a 256 x 256 grid; best-of-N holds them all in memory).
MAX_IMAGES = 65536
# The longest file name common file systems take (ext4, XFS, APFS, NTFS: 255).
MAX_NAME_BYTES = 255


def check_count(value, flag, limit=MAX_IMAGES):
    """Raise UsageError unless `value` is a positive count of at most `limit` (checked before
    anything that big is allocated or drawn)."""
    require(value is not None and value > 0, f"--{flag} must be a positive number, not {value}")
    require(value <= limit, f"--{flag} {value} is more than {limit} at once: ask for fewer")


def check_seed(seed, flag="seed"):
    """Raise UsageError unless `seed` is None or in 0..MAX_SEED - 1 (the one rule for seeds)."""
    require(seed is None or 0 <= seed < MAX_SEED,
             f"--{flag} must be in 0..{MAX_SEED - 1}, not {seed}")


def _square_or(flags, square, height, width, default):
    """(height, width) from --<square> or --<height>/--<width>; the square name wins."""
    if flags.get(square):
        return flags[square], flags[square]
    h = flags.get(height) or default
    return h, flags.get(width) or h


def check_folder_name(value, flag, parent):
    """Raise UsageError unless `value` (None: not given) names one folder inside `parent`."""
    require(value is None or (value and "/" not in value and value not in (".", "..")),
            f"--{flag} must be a folder name under {parent}, not {value!r}")
    length = len(value.encode()) if value else 0
    require(length <= MAX_NAME_BYTES, f"--{flag} is {length} bytes long: a folder name has at "
                                      f"most {MAX_NAME_BYTES}, so choose a shorter one")


def check_evaluation_flags(flags):
    """Check --eval_freq, --eval_num and --ndb_k."""
    require(flags["eval_freq"] >= 0,
            f"--eval_freq must be 0 (off) or more steps, not {flags['eval_freq']}")
    require(flags["eval_num"] >= 0, f"--eval_num must be 0 (the default count) or more images, "
                                    f"not {flags['eval_num']}")
    require(flags["ndb_k"] > 0, f"--ndb_k must be a positive number, not {flags['ndb_k']}")


def budget_from_flags(flags, present=()):
    """This launch's Budget from --steps and --minutes (None: not given), and whether --epoch
    limits it too (given, or neither of them is); raises UsageError for a value that is not a
    positive (finite) number."""
    steps, minutes = flags.get("steps"), flags.get("minutes")
    require(steps is None or steps > 0,
            f"--steps is the step to stop at (the run's total, like --epoch), a positive "
            f"number such as 5000, not {steps}")
    require(minutes is None or (math.isfinite(minutes) and minutes > 0),
            f"--minutes is this launch's training time, a positive number such as 10 or 0.5, "
            f"not {minutes}")
    return Budget(steps=steps, minutes=minutes,
                  epoch_limit="epoch" in present or (steps is None and minutes is None))


def check_compute_flags(flags):
    """Check the flags that say how to compute (threads, precision), which any mode takes."""
    for name in ("intra_op_threads", "inter_op_threads"):
        require(flags[name] >= 0, f"--{name} must be 0 (automatic) or more, not {flags[name]}")
    require(flags["precision"] in PRECISIONS,
             f"--precision must be one of {', '.join(PRECISIONS)}, not {flags['precision']!r}")


def check_choices(run, given):
    """Raise UsageError unless the resolved training choices of settings `run` can train
    (`given`: the knobs given on the command line, whose flags the messages name)."""
    require_positive(run.choices, "learning_rate", "d_learning_rate", "g_learning_rate",
                     "g_steps", "r1_every")
    require(0.0 <= run.beta1 < 1.0, f"--beta1 must be in [0, 1), not {run.beta1}")
    require(0.0 < run.beta2 < 1.0, f"--beta2 must be in (0, 1) such as 0.999, not {run.beta2}")
    require(0.0 < run.label_smoothing <= 1.0,
            f"--label_smoothing is D's target for real images, in (0, 1] such as 0.9 "
            f"(1: none), not {run.label_smoothing}")
    require(0.0 <= run.ema < 1.0, f"--ema must be a decay in [0, 1) such as 0.999 (0: off), "
            f"not {run.ema}")
    require(run.ema_start >= 0, f"--ema_start must be 0 or more steps, not {run.ema_start}")
    require(run.lr_half_life >= 0, "--lr_half_life must be 0 (constant rates) or more steps, "
            f"such as 1500, not {run.lr_half_life}")
    require(run.ema or "ema_start" not in given,
            "--ema_start needs an EMA: add --ema 0.999 (or a recipe with one)")
    require(math.isfinite(run.r1_gamma) and run.r1_gamma >= 0,
            f"--r1_gamma must be 0 (off) or a positive weight such as 1, not {run.r1_gamma}")
    require(run.r1_gamma or "r1_every" not in given,
            "--r1_every needs an R1 penalty: add --r1_gamma 1 (or a recipe with one)")


def from_flags(flags, present, resumed=None):
    """Check the flag values and build RunSettings for training.

    `flags` maps flag names to values; `present` names the flags given on the command line
    (to tell a default from a choice); `resumed` is the saved run a resume continues (its
    training choices stand in for the recipe's unless --recipe is given). Raises UsageError
    naming the flag and the fix.
    """
    require_positive(flags, "epoch", "batch_size", "z_dim", "gf_dim", "df_dim", "gfc_dim",
                     "dfc_dim", "sample_freq", "ckpt_freq", "max_to_keep")
    check_count(flags["num_samples"], "num_samples")
    require(flags["g_kernel"] is None or flags["g_kernel"] in G_KERNELS,
            f"--g_kernel must be one of {', '.join(map(str, G_KERNELS))}, not {flags['g_kernel']}")
    require(flags["z_dist"] in latent.NAMES,
            f"--z_dist must be one of {', '.join(latent.NAMES)}, not {flags['z_dist']!r}")
    for name in ("image_size", "output_size", "input_height", "input_width", "output_height",
                 "output_width"):
        value = flags.get(name)
        require(value is None or value > 0, f"--{name} must be a positive number, not {value}")
    require(flags["train_size"] >= 0,
            f"--train_size must be 0 (every image) or more, not {flags['train_size']}")
    check_seed(flags.get("seed"))
    check_compute_flags(flags)
    check_evaluation_flags(flags)
    cluster.check_flags(flags, resumed and resumed.run_checkpoint_dir)
    dataset = flags["dataset"]
    check_folder_name(dataset, "dataset", "--data_dir")
    check_folder_name(flags.get("name"), "name", "--checkpoint_dir")
    if flags.get("recipe") is None:  # not given: the default for this kind of data
        flags = {**flags, "recipe": recipes.default_for(dataset == MNIST)}
    model, crop = _network_and_crop(flags, present)
    names = {f.name for f in dataclasses.fields(RunSettings)} - {"model", "dataset"}
    values = {name: flags[name] for name in names - set(recipes.KNOBS) if name in flags}
    given = {knob: flags[knob] for knob in recipes.KNOBS if knob in present}
    base = resumed.choices if resumed is not None and "recipe" not in present else None
    run = RunSettings.create(dataset=dataset, model=model, resumed_choices=base, **given,
                             **{**values, "crop_height": crop[0], "crop_width": crop[1]})
    check_choices(run, given)
    return run


def _g_kernel(flags):
    """--g_kernel, else (a new run not giving it) the one its recipe picks; a resumed run's
    flags carry its own."""
    if flags["g_kernel"] is not None:
        return flags["g_kernel"]
    return recipes.G_KERNEL.get(flags["recipe"], ModelConfig.g_kernel)


def _network_and_crop(flags, present):
    """The ModelConfig the size and network flags build, and the (height, width) of the crop
    ((0, 0): none)."""
    mnist = flags["dataset"] == MNIST
    default_size = MNIST_SIZE if mnist else DEFAULT_OUTPUT_SIZE
    out_h, out_w = _square_or(flags, "output_size", "output_height", "output_width",
                              default_size)
    crop_given = any(n in present for n in ("image_size", "input_height", "input_width"))
    crop = flags["crop"] if "crop" in present else crop_given
    in_h, in_w = _square_or(flags, "image_size", "input_height", "input_width", out_h)
    if mnist:
        require((out_h, out_w) == (MNIST_SIZE, MNIST_SIZE) and not crop,
                 f"--dataset {MNIST} trains on {MNIST_SIZE}x{MNIST_SIZE} digits: drop "
                 "--output_size/--image_size/--crop")
    require(min(out_h, out_w) >= MIN_OUTPUT_SIZE,
             f"--output_size {out_h}x{out_w} is too small: the networks need at least "
             f"{MIN_OUTPUT_SIZE} pixels a side")
    if crop:
        require(in_h >= out_h and in_w >= out_w,
                 f"--image_size {in_h}x{in_w} is smaller than --output_size {out_h}x{out_w}: "
                 "the crop is resized down, so make --image_size at least --output_size")
    model = ModelConfig(output_height=out_h, output_width=out_w, c_dim=1 if mnist else 3,
                        z_dim=flags["z_dim"], y_dim=MNIST_CLASSES if mnist else 0,
                        gf_dim=flags["gf_dim"], g_kernel=_g_kernel(flags),
                        df_dim=flags["df_dim"],
                        gfc_dim=flags["gfc_dim"], dfc_dim=flags["dfc_dim"],
                        z_dist=flags["z_dist"])
    return model, ((in_h, in_w) if crop else (0, 0))
