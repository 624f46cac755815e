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

from dcgan import checkpoint_files, cluster, durable, latent, recipes
from dcgan.config import ModelConfig
from dcgan.data import ImageSpec
from dcgan.errors import UsageError, require, require_positive
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
    """All settings of one run: data, network, optimisation and where outputs go.

    The field defaults are the command line's defaults (`dcgan.cli` reads them from here). The
    output size and channels live in `model` alone; `spec` adds the crop to them. The training
    choices (`dcgan.recipes.KNOBS`) left None are filled from `recipe` when the settings are
    built, so `replace(recipe=...)` keeps the old values: build new settings to change recipe.
    """

    dataset: str
    model: ModelConfig
    name: str = None  # the run's folder name; None: `<dataset>_<batch>_<output_h>_<output_w>`
    crop_height: int = 0  # 0: no crop, the whole picture is resized
    crop_width: int = 0
    data_dir: str = "data"
    cache_dir: str = None  # the decoded image cache; None: <data_dir>/.cache
    input_fname_pattern: str = "*"
    checkpoint_dir: str = "checkpoints"
    sample_dir: str = "samples"
    tensorboard_dir: str = "logs"
    batch_size: int = 64
    epoch: int = 25
    # The training choices (dcgan.recipes.KNOBS): None takes the recipe's value when built.
    recipe: str = recipes.DEFAULT
    learning_rate: float = None  # Adam's rate for both nets unless one has its own
    d_learning_rate: float = None
    g_learning_rate: float = None
    beta1: float = None
    g_steps: int = None
    ema: float = None  # decay of the generator weights' moving average; 0: no EMA
    ema_start: int = None  # the step the average starts from (the shadows copy G before it)
    label_smoothing: float = None  # D's target for real images; 1: none (0.9: one-sided)
    augment: str = None  # DiffAugment policies of D's inputs, comma-separated; "": none
    train_size: int = 0  # 0: every image, each epoch
    seed: int = None
    sample_freq: int = 100
    ckpt_freq: int = 500
    max_to_keep: int = 5
    num_samples: int = 64
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    eval_freq: int = 0  # steps between in-training evaluations; 0: none
    eval_num: int = 0  # images per evaluated set; 0: EVAL_NUM (--evaluate), TRAIN_EVAL_NUM
    ndb_k: int = 100  # NDB's number of bins
    precision: str = "auto"  # resolved per machine by dcgan.runtime.resolve_precision
    distribute: str = "none"  # "none", "mirrored" or "multi_worker" (dcgan.cluster)
    devices: str = ""  # --distribute mirrored: comma-separated devices ("": every local GPU)
    worker_timeout: int = cluster.ARRIVAL_TIMEOUT_S  # multi_worker: s to wait for a task

    def __post_init__(self):
        # Knobs left unset take the recipe's values, so every RunSettings (and run.json) holds
        # the values a run really trains with.
        given = {knob: getattr(self, knob) for knob in recipes.KNOBS}
        for knob, value in recipes.resolve(self.recipe, given).items():
            object.__setattr__(self, knob, value)

    @property
    def spec(self):
        """How a picture becomes a training image of this run: crop, then resize to the output."""
        return ImageSpec(self.model.output_height, self.model.output_width, self.model.c_dim,
                         self.crop_height, self.crop_width)

    @property
    def is_mnist(self):
        """True for the MNIST digits (read from IDX files, with labels), not a picture folder."""
        return self.dataset == MNIST

    @property
    def run_name(self):
        """The run's folder name under the checkpoint, sample, log and export folders: --name,
        or `<dataset>_<batch>_<output_h>_<output_w>`."""
        return self.name or f"{self.dataset}_{self.batch_size}_{self.model.output_height}_" \
                            f"{self.model.output_width}"

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

        Runs saved before the crop moved out of `spec` carry a `spec` block: its crop is taken,
        and its output size and channels must agree with the model's. Raises ValueError naming
        the first key that is missing or holds the wrong type.
        """
        old_spec = values.get("spec") if isinstance(values, dict) else None
        values = _fields_of(cls, values)
        values.setdefault("recipe", recipes.CARPEDM20)  # saved before recipes: carpedm20's
        model = ModelConfig(**_fields_of(ModelConfig, values["model"]))
        values["model"] = model
        if old_spec is not None:
            spec = ImageSpec(**_fields_of(ImageSpec, old_spec))
            if (spec.output_height, spec.output_width, spec.c_dim) != \
                    (model.output_height, model.output_width, model.c_dim):
                raise ValueError(f"its image size {spec.output_height}x{spec.output_width}x"
                                 f"{spec.c_dim} disagrees with its model's")
            values.update(crop_height=spec.crop_height, crop_width=spec.crop_width)
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


def check_evaluation_flags(flags):
    """Check --ema, --eval_freq, --eval_num and --ndb_k (absent ones count as their defaults)."""
    ema = flags.get("ema") or 0.0
    require(0.0 <= ema < 1.0, f"--ema must be a decay in [0, 1) such as 0.999 (0: off), "
             f"not {ema}")
    require((flags.get("eval_freq") or 0) >= 0,
             f"--eval_freq must be 0 (off) or more steps, not {flags.get('eval_freq')}")
    for name in ("eval_num", "ndb_k"):
        value = flags.get(name)
        require(value is None or value > 0, f"--{name} must be a positive number, not {value}")


def check_compute_flags(flags):
    """Check the flags that say how to compute (threads, precision), which any mode takes."""
    for name in ("intra_op_threads", "inter_op_threads"):
        require(flags[name] >= 0, f"--{name} must be 0 (automatic) or more, not {flags[name]}")
    require(flags["precision"] in PRECISIONS,
             f"--precision must be one of {', '.join(PRECISIONS)}, not {flags['precision']!r}")


def with_recipe(flags, present):
    """`flags` with every training choice resolved: the --recipe's values, under the flags
    given on the command line (`present`). Checks the choices the recipe adds."""
    given = {knob: flags[knob] for knob in recipes.KNOBS if knob in present}
    values = {**flags, **recipes.resolve(flags.get("recipe") or RunSettings.recipe, given,
                                         flags.get(RESUMED_CHOICES))}
    require(0.0 < values["label_smoothing"] <= 1.0,
            f"--label_smoothing is D's target for real images, in (0, 1] such as 0.9 "
            f"(1: none), not {values['label_smoothing']}")
    require(values["ema_start"] >= 0,
            f"--ema_start must be 0 or more steps, not {values['ema_start']}")
    require(values["ema"] or "ema_start" not in given,
            "--ema_start needs an EMA: add --ema 0.999 (or a recipe with one)")
    return values


def from_flags(flags, present):
    """Check the flag values and build RunSettings for training.

    `flags` maps flag names to values; `present` names the flags given on the command line
    (to tell a default from a choice). Raises UsageError naming the flag and the fix.
    """
    flags = with_recipe(flags, present)
    require_positive(flags, "epoch", "batch_size", "learning_rate", "d_learning_rate",
                     "g_learning_rate", "z_dim", "gf_dim", "df_dim", "gfc_dim", "dfc_dim",
                     "g_steps", "sample_freq", "ckpt_freq", "max_to_keep")
    check_count(flags["num_samples"], "num_samples")
    require(0.0 <= flags["beta1"] < 1.0, f"--beta1 must be in [0, 1), not {flags['beta1']}")
    require(flags["z_dist"] in latent.NAMES,
            f"--z_dist must be one of {', '.join(latent.NAMES)}, not {flags['z_dist']!r}")
    for name in ("image_size", "output_size", "input_height", "input_width", "output_height",
                 "output_width", "train_size"):
        value = flags.get(name)
        require(value is None or value > 0, f"--{name} must be a positive number, not {value}")
    check_seed(flags.get("seed"))
    check_compute_flags(flags)
    check_evaluation_flags(flags)
    cluster.check_flags(flags)
    dataset = flags["dataset"]
    check_folder_name(dataset, "dataset", "--data_dir")
    check_folder_name(flags.get("name"), "name", "--checkpoint_dir")

    mnist = dataset == MNIST
    default_size = MNIST_SIZE if mnist else 64
    out_h, out_w = _square_or(flags, "output_size", "output_height", "output_width",
                              default_size)
    crop_given = any(n in present for n in ("image_size", "input_height", "input_width"))
    crop = flags["crop"] if "crop" in present else crop_given
    in_h, in_w = _square_or(flags, "image_size", "input_height", "input_width", out_h)
    if mnist:
        require((out_h, out_w) == (MNIST_SIZE, MNIST_SIZE) and not crop,
                 "--dataset mnist trains on 28x28 digits: drop --output_size/--image_size/--crop")
    require(min(out_h, out_w) >= MIN_OUTPUT_SIZE,
             f"--output_size {out_h}x{out_w} is too small: the networks need at least "
             f"{MIN_OUTPUT_SIZE} pixels a side")
    if crop:
        require(in_h >= out_h and in_w >= out_w,
                 f"--image_size {in_h}x{in_w} is smaller than --output_size {out_h}x{out_w}: "
                 "the crop is resized down, so make --image_size at least --output_size")
    model = ModelConfig(output_height=out_h, output_width=out_w, c_dim=1 if mnist else 3,
                        z_dim=flags["z_dim"], y_dim=MNIST_CLASSES if mnist else 0,
                        gf_dim=flags["gf_dim"], df_dim=flags["df_dim"],
                        gfc_dim=flags["gfc_dim"], dfc_dim=flags["dfc_dim"],
                        z_dist=flags["z_dist"])
    names = {f.name for f in dataclasses.fields(RunSettings)} - {"model", "dataset"}
    values = {name: flags[name] for name in names if name in flags}
    for name in ("train_size", "ema", "eval_freq", "eval_num"):
        values[name] = values.get(name) or 0
    values.update(crop_height=in_h if crop else 0, crop_width=in_w if crop else 0)
    return RunSettings(dataset=dataset, model=model, **values)


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
    for folder in (settings.run_sample_dir, settings.run_log_dir):
        claim_output_folder(folder, settings.run_checkpoint_dir)


OWNER_FILE = ".dcgan_run"  # in a run's sample and log folders: the path to its checkpoints


def claim_output_folder(folder, run_folder):
    """Mark `folder` as the outputs of the run in `run_folder`.

    Raises UsageError when it holds another run's outputs, so two runs (say, the same name
    under two --checkpoint_dir) never mix their pictures or TensorBoard curves. A folder whose
    run is gone (no run.json) is taken over. The path is stored relative to `folder`, so a
    working folder copied as a whole keeps its runs apart.
    """
    marker = os.path.join(folder, OWNER_FILE)
    try:
        with open(marker) as handle:
            owner = os.path.join(folder, handle.read().strip())
    except FileNotFoundError:
        owner = None
    if owner and os.path.realpath(owner) != os.path.realpath(run_folder) \
            and os.path.exists(os.path.join(owner, RUN_FILE)):
        raise UsageError(f"{folder} holds the outputs of the run in {os.path.normpath(owner)}: "
                         "pass --name NAME to give this run folders of its own")
    with open(marker, "w") as handle:
        handle.write(os.path.relpath(run_folder, folder) + "\n")


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
    """RunSettings from a run folder's run.json, or None if it has none. The run's name is the
    folder's, so a run folder that was moved or renamed still finds its own outputs.

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
        settings = _checked(RunSettings.from_dict(values))
    except (ValueError, TypeError) as error:
        raise DamagedRun(path, str(error)) from None
    return settings.replace(name=os.path.basename(os.path.normpath(run_folder)))


def _checked(run):
    """`run` if its values can build a network, else ValueError (a hand-edited run.json)."""
    model = run.model
    sizes = (model.output_height, model.output_width, model.c_dim, model.z_dim, model.gf_dim,
             model.df_dim, model.gfc_dim, model.dfc_dim, run.batch_size)
    if min(sizes) <= 0 or model.y_dim < 0 or model.z_dist not in latent.NAMES:
        raise ValueError("its sizes or z_dist cannot build a network")
    if not run.dataset or "/" in run.dataset:
        raise ValueError(f"'dataset' is {run.dataset!r}")
    return run


NEW_RUN_HINT = "or --name NAME for a new run beside it"


def check_compatible(saved, wanted):
    """Raise UsageError if `wanted` would build a different network than the saved run.

    The dataset is compared first: it decides the channels and labels, which have no flags.
    """
    folder = saved.run_checkpoint_dir
    if saved.dataset != wanted.dataset:
        raise UsageError(f"{folder} was trained on --dataset {saved.dataset}, not "
                         f"{wanted.dataset}: pass --dataset {saved.dataset} to resume it, "
                         f"{NEW_RUN_HINT}")
    if (saved.ema > 0) != (wanted.ema > 0):
        raise UsageError(
            f"{folder} was trained with --ema {saved.ema}, not {wanted.ema} "
            f"(EMA cannot be switched on or off mid-run): pass --ema {saved.ema} to resume it, "
            f"{NEW_RUN_HINT}")
    for field in dataclasses.fields(ModelConfig):
        old = getattr(saved.model, field.name)
        new = getattr(wanted.model, field.name)
        if old != new:
            raise UsageError(
                f"{folder} was trained with {field.name}={old}, not {new}: "
                f"pass --{field.name} {old} to resume it, {NEW_RUN_HINT}")


def newest_run(checkpoint_dir, dataset=None, picks=None, missing_ok=False):
    """Settings of the most recently saved run under `checkpoint_dir` (of `dataset` if given,
    with the sizes of `run_picks` if given).

    A run whose run.json is damaged is skipped with a warning, so one broken old run never
    hides the healthy ones. Without a run, raises UsageError naming the folder searched and the
    command that makes a run (the damaged run when only damaged ones are left), or returns None
    when `missing_ok`.
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
        if (dataset is None or settings.dataset == dataset) and _matches(settings, picks):
            candidates.append((saved_at, settings))
    if not candidates:
        if missing_ok:
            return None
        raise damaged[-1] if damaged else UsageError(
            _no_run_message(checkpoint_dir, dataset, picks or {}))
    candidates.sort(key=lambda item: item[0])
    return candidates[-1][1].replace(checkpoint_dir=checkpoint_dir)


def _may_be_of(folder, dataset):
    """Whether run folder `folder` (`<dataset>_<batch>_<h>_<w>`) may hold a run of `dataset`."""
    name = os.path.basename(folder)
    return dataset is None or re.fullmatch(rf"{re.escape(dataset)}_\d+_\d+_\d+", name)


# Flags that pick an existing run by its saved sizes (beside --dataset and --name).
PICK_FLAGS = ("batch_size", "output_size", "output_height", "output_width")
# Settings a resume takes from the command line rather than from run.json: where the run was
# found, and how this machine computes (the saved precision is what the last machine resolved).
NOT_RESUMED = ("checkpoint_dir", "precision", "intra_op_threads", "inter_op_threads")
CROP_FLAGS = ("crop", "image_size", "input_height", "input_width")


def run_picks(flags, present):
    """What the size flags given ask of a run, e.g. {'batch_size': 8, 'output_height': 16}."""
    picks = {name: flags[name] for name in ("batch_size", "output_height", "output_width")
             if name in present}
    if "output_size" in present:
        picks.update(output_height=flags["output_size"], output_width=flags["output_size"])
    return picks


def _matches(settings, picks):
    sizes = {"batch_size": settings.batch_size, "output_height": settings.model.output_height,
             "output_width": settings.model.output_width}
    return all(sizes[name] == value for name, value in (picks or {}).items())


def picks_as_flags(picks):
    """`run_picks` written back as flags, e.g. '--batch_size 8 --output_size 16'."""
    flags = [f"--batch_size {picks['batch_size']}"] if "batch_size" in picks else []
    height, width = picks.get("output_height"), picks.get("output_width")
    if height is not None and height == width:
        flags.append(f"--output_size {height}")
    else:
        flags += [f"--output_{side} {value}" for side, value in
                  (("height", height), ("width", width)) if value is not None]
    return " ".join(flags)


def _no_run_message(checkpoint_dir, dataset, picks):
    sizes = picks_as_flags(picks)
    which = " ".join(filter(None, (dataset and f"of {dataset}", sizes and f"with {sizes}")))
    # MNIST is 28x28 only: with an output size, name a picture folder rather than suggest a
    # command that fails.
    sized = "output_height" in picks or "output_width" in picks
    folder = dataset or ("FOLDER" if sized else MNIST)
    command = " ".join(filter(None, ("python main.py --dataset", folder, sizes, "--train")))
    note = " (FOLDER: your pictures' folder under data/)" if folder == "FOLDER" else ""
    return (f"no trained checkpoint {which + ' ' if which else ''}in {checkpoint_dir}/: train "
            f"one first with `{command}`{note}")


# The flags key under which a resume hands the saved run's training choices to the recipe.
RESUMED_CHOICES = "resumed_choices"


def resume_flags(saved, flags, present):
    """The flags of a resumed run: those given now, and the saved run's for the rest.

    Returns (flags, present) for `from_flags`. The crop is the saved one unless a crop flag is
    given now.
    """
    skip = {"model", "crop_height", "crop_width", *NOT_RESUMED}
    kept = {f.name: getattr(saved, f.name) for f in dataclasses.fields(RunSettings)
            if f.name not in skip}
    kept.update((f.name, getattr(saved.model, f.name)) for f in dataclasses.fields(ModelConfig)
                if f.name in flags)
    # 0 means "all" or "the default" in run.json; the flags spell that as absent.
    kept.update(train_size=saved.train_size or None, eval_num=saved.eval_num or None)
    merged = {**flags, **{name: value for name, value in kept.items() if name not in present}}
    if "recipe" not in present:  # a --recipe given now brings its own values
        merged[RESUMED_CHOICES] = {knob: kept[knob] for knob in recipes.KNOBS}
    present = set(present)
    if not present & set(CROP_FLAGS):
        merged.update(crop=bool(saved.crop_height), input_height=saved.crop_height or None,
                      input_width=saved.crop_width or None)
        present.add("crop")
    return merged, present


def training_run(flags, present):
    """The run `--train` trains: (settings, the saved run it resumes or None).

    --name picks that folder. Otherwise the newest trained run of --dataset whose sizes match
    the size flags given is resumed, and without one a new run starts. A resumed run keeps its
    saved settings except those given on the command line.
    """
    check_folder_name(flags.get("name"), "name", "--checkpoint_dir")
    checkpoint_dir = flags["checkpoint_dir"]
    if flags.get("name"):
        saved = load(os.path.join(checkpoint_dir, flags["name"]))
    else:
        saved = newest_run(checkpoint_dir, flags["dataset"], run_picks(flags, present),
                           missing_ok=True)
    if saved is None:
        return from_flags(flags, present), None
    merged, present = resume_flags(saved, flags, present)
    return from_flags(merged, present), saved


def sampling_run(flags, present):
    """The saved run --visualize, --evaluate and --export read: the folder of a --checkpoint
    path, --name, or the newest trained run matching --dataset and the size flags given."""
    checkpoint_dir, checkpoint = flags["checkpoint_dir"], flags.get("checkpoint")
    if checkpoint and not checkpoint.isdigit():
        given = sorted(set(present) & {"name", "dataset", *PICK_FLAGS})
        require(not given, f"--checkpoint {checkpoint} is a path, which picks its run: drop "
                           + " ".join(f"--{name}" for name in given))
        folder = os.path.dirname(os.path.abspath(checkpoint))
    elif flags.get("name"):
        check_folder_name(flags["name"], "name", "--checkpoint_dir")
        folder = os.path.join(checkpoint_dir, flags["name"])
    else:
        dataset = flags["dataset"] if "dataset" in present else None
        return newest_run(checkpoint_dir, dataset, run_picks(flags, present))
    saved = load(folder)
    require(saved is not None, f"{folder}/ holds no run (no {RUN_FILE}): list the runs with "
                               f"`ls {checkpoint_dir}`")
    return saved.replace(checkpoint_dir=os.path.dirname(os.path.normpath(folder)))


def describe(settings):
    """The run's data and sizes in words, e.g. 'anime, 96x96 crop -> 32x32, batch 64'."""
    size = f"{settings.model.output_height}x{settings.model.output_width}"
    if settings.crop_height:
        size = f"{settings.crop_height}x{settings.crop_width} crop -> {size}"
    return f"{settings.dataset}, {size}, batch {settings.batch_size}"
