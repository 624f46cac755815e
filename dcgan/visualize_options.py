"""The `--visualize` modes and their flags, checked before TensorFlow is imported.

A mode is named with `--mode NAME`; carpedm20's `OPTION = 0..4` are also accepted as
`--option N`. Flags that a mode does not use are refused rather than silently ignored.
"""

import dataclasses
import re

import numpy as np

from dcgan.errors import require, require_positive

# carpedm20's utils.visualize options, in order.
OPTIONS = ("grid", "sweep", "sweep_gifs", "zero_gifs", "merged_gif")
MODES = (*OPTIONS, "interpolate", "best", "files", "digits")
DEFAULT_MODE = "grid"
INTERPOLATIONS = ("lerp", "slerp")
MERGED_TILES = 100  # carpedm20's merged GIF is a 10x10 grid of sweeps
RANDOM_SEEDS = 1_000_000  # a seed drawn for the user stays short enough to type back
# Seeds are 32-bit (the web page's generator); half the range leaves room for seed + i.
MAX_SEED = 2 ** 31
# --scale's limit: 16x already makes a 64-image grid of 64 px faces 8,000 px wide.
MAX_SCALE = 16

# The visualize-only flags each mode reads (--num_samples and --seed are shared with --train).
MODE_FLAGS = {
    "grid": {"label"},
    "sweep": {"dims", "frames", "label"},
    "sweep_gifs": {"dims", "frames", "fps", "num_gifs", "label"},
    "zero_gifs": {"dims", "frames", "fps", "label"},
    "merged_gif": {"dims", "frames", "fps", "label"},
    "interpolate": {"seeds", "frames", "fps", "interp", "label"},
    "best": {"search_num", "label"},
    "files": {"label"},
    "digits": set(),
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


def parse_ints(text, flag):
    """Integers from a comma list with inclusive ranges, e.g. '0,5,10-12' -> [0, 5, 10, 11, 12]."""
    numbers = []
    for item in text:
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        require(match, f"--{flag} takes numbers and ranges like 0,5,10-19, not {item!r}")
        low, high = int(match[1]), int(match[2] or match[1])
        require(low <= high, f"--{flag} range {item!r} runs backwards: write {high}-{low}")
        numbers.extend(range(low, high + 1))
    return numbers


def reject_outside_visualize(present):
    """Raise UsageError if a visualize-only flag was given to another mode (e.g. --train)."""
    for name in VISUALIZE_FLAGS:
        require(name not in present, f"--{name} is a --visualize flag: add --visualize or "
                                      "drop it")


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
    # The run's --num_samples unless given now (the sampling settings already merged it).
    num_samples = run.num_samples
    require(num_samples > 0, f"--num_samples must be a positive number, not {num_samples}")
    require_positive(values, "search_num", "fps", "num_gifs")
    require(values["frames"] >= 2, f"--frames must be at least 2, not {values['frames']}")
    require(1 <= values["scale"] <= MAX_SCALE,
            f"--scale must be 1-{MAX_SCALE} (times each side), not {values['scale']}")
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
    dims = None
    if values["dims"] is not None:
        dims = parse_ints(values["dims"], "dims")
        require(dims, "--dims needs at least one dimension")
        top = max(dims)
        require(top < cfg.z_dim, f"--dims {top} is out of range: {run.run_name} has z_dim "
                                  f"{cfg.z_dim} (dimensions 0-{cfg.z_dim - 1})")
    require(mode != "best" or values["search_num"] >= num_samples,
             f"--search_num {values['search_num']} is smaller than --num_samples "
             f"{num_samples}: best-of-N keeps --num_samples of --search_num images")
    seed = values["seed"]
    if seed is None:
        seed = int(np.random.default_rng().integers(RANDOM_SEEDS))
    require(0 <= seed < MAX_SEED, f"--seed must be in 0..{MAX_SEED - 1}, not {seed}")
    seeds = (seed, seed + 1)
    if values["seeds"] is not None:
        seeds = tuple(parse_ints(values["seeds"], "seeds"))
        require(len(seeds) >= 2, "--seeds needs at least two seeds to interpolate between, "
                                  "e.g. --seeds 3,17")
        require(all(0 <= s < MAX_SEED for s in seeds), f"--seeds must be in 0..{MAX_SEED - 1}")
    require(values["interp"] in (*INTERPOLATIONS, "both"),
             f"--interp must be lerp, slerp or both, not {values['interp']!r}")
    interp = INTERPOLATIONS if values["interp"] == "both" else (values["interp"],)
    return VisualizeOptions(mode=mode, seed=seed, num_samples=num_samples,
                            dims=None if dims is None else tuple(dims), label=label, seeds=seeds,
                            search_num=values["search_num"], frames=values["frames"],
                            fps=values["fps"], num_gifs=values["num_gifs"], interp=interp,
                            scale=values["scale"])
