"""A run's settings: built from the command-line flags, checked, saved beside the checkpoints.

Everything a later command needs to rebuild the same network (`--visualize`, `--export`, a
resumed `--train`) is in `run.json` in the run's checkpoint folder, so those commands need no
flags repeated.
"""

import dataclasses
import glob
import json
import logging
import os
import re
import tempfile

from dcgan import checkpoint_files, durable
from dcgan.config import Z_DISTRIBUTIONS, ModelConfig
from dcgan.data import ImageSpec
from dcgan.errors import UsageError
from dcgan.precision import PRECISIONS

log = logging.getLogger(__name__)

MNIST = "mnist"
MNIST_SIZE = 28
MNIST_CLASSES = 10
MIN_OUTPUT_SIZE = 8
RUN_FILE = "run.json"
EVAL_NUM = 2048  # images per set for --evaluate (capped by the real images there are)
TRAIN_EVAL_NUM = 512  # a cheaper set for --eval_freq during training
# Seeds are 32-bit (the web page's generator); half the range leaves room for seed + i.
MAX_SEED = 2 ** 31
# Images one request may draw at once (a 256 x 256 grid; best-of-N holds them all in memory).
MAX_IMAGES = 65536


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """All settings of one run: data, network, optimisation and where outputs go."""

    dataset: str
    spec: ImageSpec
    model: ModelConfig
    data_dir: str = "data"
    input_fname_pattern: str = "*"
    checkpoint_dir: str = "checkpoints"
    sample_dir: str = "samples"
    tensorboard_dir: str = "logs"
    batch_size: int = 64
    epoch: int = 25
    learning_rate: float = 2e-4
    beta1: float = 0.5
    train_size: int = 0  # 0: every image, each epoch
    g_steps: int = 2
    seed: int = None
    sample_freq: int = 100
    ckpt_freq: int = 500
    max_to_keep: int = 5
    num_samples: int = 64
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    ema: float = 0.0  # decay of the generator weights' moving average; 0: no EMA
    eval_freq: int = 0  # steps between in-training evaluations; 0: none
    eval_num: int = 0  # images per evaluated set; 0: EVAL_NUM (--evaluate), TRAIN_EVAL_NUM
    ndb_k: int = 100  # NDB's number of bins
    precision: str = "fp32"

    @property
    def run_name(self):
        """`<dataset>_<batch>_<output_h>_<output_w>`: one folder name for a run's outputs."""
        return f"{self.dataset}_{self.batch_size}_{self.spec.output_height}_" \
               f"{self.spec.output_width}"

    @property
    def run_checkpoint_dir(self):
        """Folder of this run's checkpoints and run.json."""
        return os.path.join(self.checkpoint_dir, self.run_name)

    @property
    def run_sample_dir(self):
        """Folder of this run's pictures."""
        return os.path.join(self.sample_dir, self.run_name)

    @property
    def run_log_dir(self):
        """Folder of this run's TensorBoard logs."""
        return os.path.join(self.tensorboard_dir, self.run_name)

    @property
    def dataset_folder(self):
        """Where the dataset's files are read from."""
        return os.path.join(self.data_dir, self.dataset)

    def to_dict(self):
        """Plain nested dict (for run.json)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """Inverse of to_dict; unknown keys (from newer versions) are ignored.

        Raises ValueError naming the first key that is missing or holds the wrong type.
        """
        values = _fields_of(cls, values)
        values["spec"] = ImageSpec(**_fields_of(ImageSpec, values["spec"]))
        values["model"] = ModelConfig(**_fields_of(ModelConfig, values["model"]))
        return cls(**values)

    def replace(self, **changes):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _fields_of(cls, values):
    """The entries of dict `values` that are fields of dataclass `cls`, each checked to have
    the field's type; raises ValueError for a missing required field or a wrong type."""
    if not isinstance(values, dict):
        raise ValueError(f"{cls.__name__} settings are {type(values).__name__}, not an object")
    checked = {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            if field.default is dataclasses.MISSING:
                raise ValueError(f"it has no {field.name!r}")
            continue
        value = values[field.name]
        if not _has_type(value, field):
            raise ValueError(f"{field.name!r} is {value!r}")
        checked[field.name] = value
    return checked


def _has_type(value, field):
    if value is None:
        return field.default is None
    if field.type is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if field.type in (int, str):
        return isinstance(value, field.type) and not isinstance(value, bool)
    return isinstance(value, dict)  # ImageSpec, ModelConfig: checked by _fields_of in turn


def check_count(value, flag, limit=MAX_IMAGES):
    """Raise UsageError unless `value` is a positive count of at most `limit` (checked before
    anything that big is allocated or drawn)."""
    _require(value is not None and value > 0, f"--{flag} must be a positive number, not {value}")
    _require(value <= limit, f"--{flag} {value} is more than {limit} at once: ask for fewer")


def check_seed(seed, flag="seed"):
    """Raise UsageError unless `seed` is None or in 0..MAX_SEED - 1 (the one rule for seeds)."""
    _require(seed is None or 0 <= seed < MAX_SEED,
             f"--{flag} must be in 0..{MAX_SEED - 1}, not {seed}")


def _require(condition, message):
    if not condition:
        raise UsageError(message)


def _positive(flags, *names):
    for name in names:
        _require(flags[name] is not None and flags[name] > 0,
                 f"--{name} must be a positive number, not {flags[name]}")


def _square_or(flags, square, height, width, default):
    """(height, width) from --<square> or --<height>/--<width>; the square name wins."""
    if flags.get(square):
        return flags[square], flags[square]
    h = flags.get(height) or default
    return h, flags.get(width) or h


def check_evaluation_flags(flags):
    """Check --ema, --eval_freq, --eval_num and --ndb_k (absent ones count as their defaults)."""
    ema = flags.get("ema") or 0.0
    _require(0.0 <= ema < 1.0, f"--ema must be a decay in [0, 1) such as 0.999 (0: off), "
             f"not {ema}")
    _require((flags.get("eval_freq") or 0) >= 0,
             f"--eval_freq must be 0 (off) or more steps, not {flags.get('eval_freq')}")
    for name in ("eval_num", "ndb_k"):
        value = flags.get(name)
        _require(value is None or value > 0, f"--{name} must be a positive number, not {value}")


def check_compute_flags(flags):
    """Check the flags that say how to compute (threads, precision), which any mode takes."""
    for name in ("intra_op_threads", "inter_op_threads"):
        _require(flags[name] >= 0, f"--{name} must be 0 (automatic) or more, not {flags[name]}")
    _require(flags["precision"] in PRECISIONS,
             f"--precision must be one of {', '.join(PRECISIONS)}, not {flags['precision']!r}")


def from_flags(flags, present):
    """Check the flag values and build RunSettings for training.

    `flags` maps flag names to values; `present` names the flags given on the command line
    (to tell a default from a choice). Raises UsageError naming the flag and the fix.
    """
    _positive(flags, "epoch", "batch_size", "learning_rate", "z_dim", "gf_dim", "df_dim",
              "gfc_dim", "dfc_dim", "g_steps", "sample_freq", "ckpt_freq", "max_to_keep")
    check_count(flags["num_samples"], "num_samples")
    _require(0.0 <= flags["beta1"] < 1.0, f"--beta1 must be in [0, 1), not {flags['beta1']}")
    _require(flags["z_dist"] in Z_DISTRIBUTIONS,
             f"--z_dist must be one of {', '.join(Z_DISTRIBUTIONS)}, not {flags['z_dist']!r}")
    for name in ("image_size", "output_size", "input_height", "input_width", "output_height",
                 "output_width", "train_size"):
        value = flags.get(name)
        _require(value is None or value > 0, f"--{name} must be a positive number, not {value}")
    check_seed(flags.get("seed"))
    check_compute_flags(flags)
    check_evaluation_flags(flags)
    dataset = flags["dataset"]
    _require(dataset and "/" not in dataset and dataset not in (".", ".."),
             f"--dataset must be a folder name under --data_dir, not {dataset!r}")

    mnist = dataset == MNIST
    default_size = MNIST_SIZE if mnist else 64
    out_h, out_w = _square_or(flags, "output_size", "output_height", "output_width",
                              default_size)
    crop_given = any(n in present for n in ("image_size", "input_height", "input_width"))
    crop = flags["crop"] if "crop" in present else crop_given
    in_h, in_w = _square_or(flags, "image_size", "input_height", "input_width", out_h)
    if mnist:
        _require((out_h, out_w) == (MNIST_SIZE, MNIST_SIZE) and not crop,
                 "--dataset mnist trains on 28x28 digits: drop --output_size/--image_size/--crop")
    _require(min(out_h, out_w) >= MIN_OUTPUT_SIZE,
             f"--output_size {out_h}x{out_w} is too small: the networks need at least "
             f"{MIN_OUTPUT_SIZE} pixels a side")
    if crop:
        _require(in_h >= out_h and in_w >= out_w,
                 f"--image_size {in_h}x{in_w} is smaller than --output_size {out_h}x{out_w}: "
                 "the crop is resized down, so make --image_size at least --output_size")
    c_dim = 1 if mnist else 3
    spec = ImageSpec(out_h, out_w, c_dim, in_h if crop else 0, in_w if crop else 0)
    model = ModelConfig(out_h, out_w, c_dim, flags["z_dim"], MNIST_CLASSES if mnist else 0,
                        flags["gf_dim"], flags["df_dim"], flags["gfc_dim"], flags["dfc_dim"],
                        flags["z_dist"])
    names = {f.name for f in dataclasses.fields(RunSettings)} - {"spec", "model", "dataset"}
    values = {name: flags[name] for name in names if name in flags}
    for name in ("train_size", "ema", "eval_freq", "eval_num"):
        values[name] = values.get(name) or 0
    return RunSettings(dataset=dataset, spec=spec, model=model, **values)


OUTPUT_FOLDERS = (("checkpoint_dir", "run_checkpoint_dir"), ("sample_dir", "run_sample_dir"),
                  ("tensorboard_dir", "run_log_dir"))


def make_output_folders(settings):
    """Create the run's checkpoint, sample and log folders and check that each can be written.

    Done before anything is trained, so a read-only or misspelt folder is a UsageError naming
    its flag rather than a failure at the first checkpoint, hours later.
    """
    for flag, attribute in OUTPUT_FOLDERS:
        folder = getattr(settings, attribute)
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise UsageError(f"--{flag} {getattr(settings, flag)}: cannot write in {folder} "
                             f"({error.strerror or error}): pick a writable folder with "
                             f"--{flag}") from None


def save(settings):
    """Write run.json into the run's checkpoint folder (atomically and durably)."""
    folder = settings.run_checkpoint_dir
    os.makedirs(folder, exist_ok=True)
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True)
    durable.write_atomically(os.path.join(folder, RUN_FILE), text.encode())


class DamagedRun(UsageError):
    """A run.json that cannot be read or does not hold a run's settings (truncated by a crash,
    emptied, edited by hand). `path` is the file and `reason` says what is wrong with it."""

    def __init__(self, path, reason):
        super().__init__(f"{path} is damaged ({reason}): train the run again with the flags it "
                         "was trained with, which writes it anew and resumes from its checkpoints")
        self.path = path
        self.reason = reason


def load(run_folder):
    """RunSettings from a run folder's run.json, or None if it has none.

    Raises DamagedRun when the file cannot be read or parsed, or lacks a setting.
    """
    path = os.path.join(run_folder, RUN_FILE)
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DamagedRun(path, error.strerror or str(error)) from None
    if not text.strip():
        raise DamagedRun(path, "it is empty")
    try:
        values = json.loads(text)
    except UnicodeDecodeError:
        raise DamagedRun(path, "it is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise DamagedRun(path, f"it is not valid JSON, cut short or garbled: {error.msg} at "
                               f"line {error.lineno}") from None
    try:
        return _checked(RunSettings.from_dict(values))
    except (ValueError, TypeError) as error:
        raise DamagedRun(path, str(error)) from None


def _checked(run):
    """`run` if its values can build a network, else ValueError (a hand-edited run.json)."""
    model = run.model
    sizes = (model.output_height, model.output_width, model.c_dim, model.z_dim, model.gf_dim,
             model.df_dim, model.gfc_dim, model.dfc_dim, run.batch_size)
    if min(sizes) <= 0 or model.y_dim < 0 or model.z_dist not in Z_DISTRIBUTIONS:
        raise ValueError("its sizes or z_dist cannot build a network")
    if not run.dataset or "/" in run.dataset:
        raise ValueError(f"'dataset' is {run.dataset!r}")
    return run


def check_compatible(saved, wanted):
    """Raise UsageError if `wanted` would build a different network than the saved run."""
    if (saved.ema > 0) != (wanted.ema > 0):
        raise UsageError(
            f"{saved.run_checkpoint_dir} was trained with --ema {saved.ema}, not {wanted.ema} "
            f"(EMA cannot be switched on or off mid-run): pass --ema {saved.ema} to resume it, "
            "or --checkpoint_dir for a new run")
    for field in dataclasses.fields(ModelConfig):
        old = getattr(saved.model, field.name)
        new = getattr(wanted.model, field.name)
        if old != new:
            raise UsageError(
                f"{saved.run_checkpoint_dir} was trained with {field.name}={old}, not {new}: "
                f"pass --{field.name} {old} to resume it, or --checkpoint_dir for a new run")


def newest_run(checkpoint_dir, dataset=None):
    """Settings of the most recently saved run under `checkpoint_dir` (of `dataset` if given).

    Raises UsageError naming the folder searched and the command that makes a run.
    A run whose run.json is damaged is skipped with a warning, so one broken old run never
    hides the healthy ones; when only damaged runs are left, the error names them.
    """
    candidates, damaged = [], []
    for folder in sorted(glob.glob(os.path.join(glob.escape(checkpoint_dir), "*", ""))):
        folder = os.path.normpath(folder)
        saved_at = checkpoint_files.newest_time(folder)
        if saved_at is None:
            continue  # not a run, or one that never saved a checkpoint
        try:
            settings = load(folder)
            if settings is None:
                raise DamagedRun(os.path.join(folder, RUN_FILE), "it is missing")
        except DamagedRun as error:
            if _may_be_of(folder, dataset):
                log.warning("skipping %s: %s is damaged (%s)", folder, error.path, error.reason)
                damaged.append(error)
            continue
        if dataset is None or settings.dataset == dataset:
            candidates.append((saved_at, settings))
    if not candidates:
        raise _no_run_error(checkpoint_dir, dataset, damaged)
    candidates.sort(key=lambda item: item[0])
    return candidates[-1][1].replace(checkpoint_dir=checkpoint_dir)


def _may_be_of(folder, dataset):
    """Whether run folder `folder` (`<dataset>_<batch>_<h>_<w>`) may hold a run of `dataset`."""
    name = os.path.basename(folder)
    return dataset is None or re.fullmatch(rf"{re.escape(dataset)}_\d+_\d+_\d+", name)


def _no_run_error(checkpoint_dir, dataset, damaged):
    """The error for a search that found no usable run: the damaged one, or how to train."""
    if damaged:
        return damaged[-1]
    which = f"--dataset {dataset} " if dataset else "--dataset mnist "
    return UsageError(f"no trained checkpoint {'of ' + dataset + ' ' if dataset else ''}"
                      f"in {checkpoint_dir}/: train one first with "
                      f"`python main.py {which}--train`")
