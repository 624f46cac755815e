"""The `--visualize` modes and their flags, checked before TensorFlow is imported.

A mode is named with `--mode NAME`; carpedm20's `OPTION = 0..4` are also accepted as
`--option N`. Flags that a mode does not use are refused rather than silently ignored.
"""

import dataclasses
import re

import numpy as np

from dcgan.errors import require, require_positive
from dcgan.flag_checks import MAX_IMAGES, MAX_SEED, check_count, check_seed
from dcgan.generator import PROJECTION_RESTARTS, PROJECTION_STEPS, check_truncation

# carpedm20's utils.visualize options, in order.
OPTIONS = ("grid", "sweep", "sweep_gifs", "zero_gifs", "merged_gif")
# progress animates the training grids already written (samples/<run>/train_*.png).
PROGRESS = "progress"
MODES = (*OPTIONS, "interpolate", "best", "files", "digits", "project", PROGRESS)
DEFAULT_MODE = "grid"
INTERPOLATIONS = ("lerp", "slerp")
BOTH = "both"  # --interp: every one of INTERPOLATIONS
MERGED_TILES = 100  # carpedm20's merged GIF is a 10x10 grid of sweeps
RANDOM_SEEDS = 1_000_000  # a seed drawn for the user stays short enough to type back
MAX_WAYPOINTS = 1000  # --seeds: each one adds --frames images to the strip and the GIF
MAX_FRAMES = 1000  # a sweep's steps, an interpolation leg's, and GIFs in one request
# --scale's limit: 16x already makes a 64-image grid of 64 px faces 8,000 px wide.
MAX_SCALE = 16
# --restarts: each one is a row of every step's batch; --project_steps: 300 is plenty at 64 px.
MAX_RESTARTS = 256
MAX_PROJECT_STEPS = 100_000

# The visualize-only flags each mode reads (--num_samples and --seed are shared with --train).
# Every mode that draws from the generator reads --truncation.
MODE_FLAGS = {
    "grid": {"label", "truncation"},
    "sweep": {"dims", "frames", "label", "truncation"},
    "sweep_gifs": {"dims", "frames", "fps", "num_gifs", "label", "truncation"},
    "zero_gifs": {"dims", "frames", "fps", "label", "truncation"},
    "merged_gif": {"dims", "frames", "fps", "label", "truncation"},
    "interpolate": {"seeds", "frames", "fps", "interp", "label", "truncation"},
    "best": {"search_num", "label", "truncation"},
    "files": {"label", "truncation"},
    "digits": {"truncation"},
    "project": {"image", "restarts", "project_steps", "fps", "label"},
    PROGRESS: {"fps"},
}
MODE_SPECIFIC_FLAGS = tuple(sorted(set().union(*MODE_FLAGS.values())))
VISUALIZE_FLAGS = ("mode", "option", "scale", *MODE_SPECIFIC_FLAGS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VisualizeOptions:
    """One `--visualize` request, checked against the run it samples from.

    The defaults are the command line's (`dcgan.cli` reads them from here).
    """

    mode: str = DEFAULT_MODE
    seed: int = 0  # first seed; image i of a grid, files or best-of-N search is seed + i
    num_samples: int  # the run's, unless --num_samples is given
    dims: tuple = None  # z dimensions to sweep (None: the mode's default)
    label: int = None  # MNIST digit for every picture (None: spread over the digits)
    seeds: tuple = None  # interpolation waypoints
    search_num: int = 512
    frames: int = 16
    fps: int = 8
    num_gifs: int = 10
    interp: tuple = INTERPOLATIONS
    scale: int = 1  # every picture enlarged this many times on each side (nearest neighbour)
    image: str = None  # the picture to project
    restarts: int = PROJECTION_RESTARTS  # the projection's starting points (seed, seed + 1, ...)
    project_steps: int = PROJECTION_STEPS  # the projection's Adam steps
    truncation: float = 1.0  # psi of the truncation trick (1: off); see dcgan.generator


def parse_ints(text, flag, limit, too_large, max_count):
    """Integers from a comma list with inclusive ranges, e.g. '0,5,10-12' -> [0, 5, 10, 11, 12].

    Each number must be below `limit` (else UsageError(`too_large` formatted with the number))
    and there may be at most `max_count` of them; both are checked before a range is expanded.
    """
    numbers = []
    for item in text:
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        require(match, f"--{flag} takes numbers and ranges like 0,5,10-19, not {item!r}")
        low, high = int(match[1]), int(match[2] or match[1])
        require(low <= high, f"--{flag} range {item!r} runs backwards: write {high}-{low}")
        require(high < limit, too_large.format(high))
        require(len(numbers) + high - low < max_count,
                 f"--{flag} names more than {max_count} numbers")
        numbers.extend(range(low, high + 1))
    return numbers


def _mode(values, present):
    if "option" in present:
        option = values["option"]
        require(0 <= option < len(OPTIONS),
                 f"--option must be 0-{len(OPTIONS) - 1} (carpedm20's visualize options), "
                 f"not {option}")
        require("mode" not in present or values["mode"] == OPTIONS[option],
                 f"--option {option} is --mode {OPTIONS[option]}, not --mode {values['mode']}: "
                 "give one of them")
        return OPTIONS[option]
    mode = values["mode"] if "mode" in present else DEFAULT_MODE
    require(mode in MODES, f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def from_flags(values, present, run):
    """Check the visualize flags against the run's settings; returns VisualizeOptions.

    `values` maps flag names to values, `present` names the flags given on the command line and
    `run` is the RunSettings of the checkpoint being sampled.
    """
    mode = _mode(values, present)
    for name in MODE_SPECIFIC_FLAGS:
        require(name not in present or name in MODE_FLAGS[mode],
                 f"--{name} has no effect with --mode {mode}; it is for --mode "
                 + " or ".join(m for m in MODES if name in MODE_FLAGS[m]))
    for name in ("seed", "num_samples"):  # shared with --train, so not in MODE_FLAGS
        require(mode != PROGRESS or name not in present,
                f"--{name} has no effect with --mode {PROGRESS}: it animates the grids training "
                "wrote, of the run's own latent vectors")
    # The run's --num_samples unless given now (the sampling settings already merged it).
    num_samples = run.num_samples
    check_count(num_samples, "num_samples")
    check_count(values["search_num"], "search_num")
    check_count(values["num_gifs"], "num_gifs", MAX_FRAMES)
    require_positive(values, "fps")
    require(values["frames"] >= 2, f"--frames must be at least 2, not {values['frames']}")
    check_count(values["frames"], "frames", MAX_FRAMES)
    require(1 <= values["scale"] <= MAX_SCALE,
            f"--scale must be 1-{MAX_SCALE} (times each side), not {values['scale']}")
    check_truncation(values["truncation"], "--truncation")
    check_count(values["restarts"], "restarts", MAX_RESTARTS)
    steps = values["project_steps"]
    require(steps is not None and 0 <= steps <= MAX_PROJECT_STEPS,
            f"--project_steps must be 0-{MAX_PROJECT_STEPS} (Adam steps; 0 keeps the best "
            f"starting point), not {steps}")
    cfg = run.model
    conditional = bool(cfg.y_dim)
    require(mode != "digits" or conditional,
             f"--mode digits needs a run trained on digit labels (mnist); {run.run_name} "
             "has none")
    label = values["label"]
    if label is not None:
        require(conditional, f"--label picks an MNIST digit; {run.run_name} was trained "
                              "without labels")
        require(0 <= label < cfg.y_dim, f"--label must be a digit 0-{cfg.y_dim - 1}, not {label}")
    dims = _dims(values["dims"], run)
    _check_target(mode, values["image"], label, run)
    require(mode != "best" or values["search_num"] >= num_samples,
             f"--search_num {values['search_num']} is smaller than --num_samples "
             f"{num_samples}: best-of-N keeps --num_samples of --search_num images")
    seed = values["seed"]
    if seed is None:
        seed = int(np.random.default_rng().integers(RANDOM_SEEDS))
    check_seed(seed)
    seeds = _seeds(values["seeds"], seed)
    require(values["interp"] in (*INTERPOLATIONS, BOTH),
             f"--interp must be lerp, slerp or both, not {values['interp']!r}")
    interp = INTERPOLATIONS if values["interp"] == BOTH else (values["interp"],)
    options = VisualizeOptions(mode=mode, seed=seed, num_samples=num_samples, dims=dims,
                               label=label, seeds=seeds, search_num=values["search_num"],
                               frames=values["frames"], fps=values["fps"],
                               num_gifs=values["num_gifs"], interp=interp,
                               scale=values["scale"], image=values["image"],
                               restarts=values["restarts"], project_steps=steps,
                               truncation=values["truncation"])
    _check_images_at_once(options, cfg.z_dim)
    return options


def _check_target(mode, image, label, run):
    """--mode project needs --image, a picture this run can read (and, on MNIST, --label);
    checked here so a bad target stops before TensorFlow loads and nothing is written."""
    if mode != "project":
        return
    require(image, "--mode project needs --image PICTURE: the picture to find the latent "
                   "vector of")
    require(not run.model.y_dim or label is not None,
            f"--mode project on {run.run_name} needs --label: the digit to project onto")
    from dcgan import data  # Pillow, not TensorFlow

    data.load_target(image, run.spec)


def _dims(text, run):
    """The --dims list as a tuple of dimensions of the run's z (None when not given)."""
    if text is None:
        return None
    z_dim = run.model.z_dim
    dims = parse_ints(text, "dims", z_dim, f"--dims {{}} is out of range: {run.run_name} has "
                      f"z_dim {z_dim} (dimensions 0-{z_dim - 1})", z_dim)
    require(dims, "--dims needs at least one dimension")
    return tuple(dims)


def _seeds(text, seed):
    """The interpolation waypoints: --seeds, or `seed` and the one after it."""
    if text is None:
        return (seed, seed + 1)
    seeds = tuple(parse_ints(text, "seeds", MAX_SEED,
                             f"--seeds must be in 0..{MAX_SEED - 1}, not {{}}", MAX_WAYPOINTS))
    require(len(seeds) >= 2, "--seeds needs at least two seeds to interpolate between, "
                              "e.g. --seeds 3,17")
    return seeds


def _check_images_at_once(options, z_dim):
    """Refuse a request whose one picture would hold more than MAX_IMAGES images (a merged
    GIF's tiles times --frames, an interpolation's legs times --frames)."""
    if options.mode == "merged_gif":
        count, what = len(options.dims or range(min(z_dim, MERGED_TILES))), "--dims"
    elif options.mode == "interpolate":
        count, what = len(options.seeds), "--seeds"
    else:
        return  # bounded by --num_samples, --search_num or --frames alone
    require(count * options.frames <= MAX_IMAGES,
             f"{count} {what} x --frames {options.frames} is more than {MAX_IMAGES} images at "
             "once: ask for fewer")
