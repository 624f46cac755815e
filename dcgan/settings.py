"""A run's settings and their file, run.json, saved beside the checkpoints.

Everything a later command needs to rebuild the same network (`--visualize`, `--export`, a
resumed `--train`) is in `run.json` in the run's checkpoint folder, so those commands need no
flags repeated. The settings are built from the flags by `dcgan.flag_checks`; a saved run is found
by `dcgan.runs`.
"""

import dataclasses
import json
import os

from dcgan import cluster, durable, latent, recipes
from dcgan.data import MNIST, ImageSpec
from dcgan.errors import UsageError
from dcgan.network import G_KERNELS, ModelConfig

RUN_FILE = "run.json"
EVAL_NUM = 2048  # images per set for --evaluate (capped by the real images there are)
TRAIN_EVAL_NUM = 512  # a cheaper set for --eval_freq during training


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
    """All settings of one run: data, network, optimisation and where outputs go.

    The field defaults are the command line's defaults (`dcgan.cli` reads them from here). The
    output size and channels live in `model` alone; `spec` adds the crop to them. The training
    choices (`dcgan.recipes.KNOBS`) are resolved once, by `create` (the flags, a saved run and
    code all build settings through it); a RunSettings always holds the values a run really
    trains with, so `replace(recipe=...)` keeps the old values: create new settings to change
    recipe.
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
    # The training choices (dcgan.recipes.KNOBS): None only on the command line ("the
    # recipe's"); `create` fills each from the recipe, and a RunSettings holds none unset.
    recipe: str = recipes.DEFAULT
    learning_rate: float = None  # Adam's rate for both nets unless one has its own
    d_learning_rate: float = None
    g_learning_rate: float = None
    beta1: float = None
    beta2: float = None  # Adam's second-moment decay
    g_steps: int = None
    ema: float = None  # decay of the generator weights' moving average; 0: no EMA
    ema_start: int = None  # the step the average starts from (the shadows copy G before it)
    label_smoothing: float = None  # D's target for real images; 1: none (0.9: one-sided)
    augment: str = None  # DiffAugment policies of D's inputs, comma-separated; "": none
    r1_gamma: float = None  # weight of the R1 penalty on D's real-image gradients; 0: none
    r1_every: int = None  # D steps between lazy R1 steps (each weighted this many times)
    lr_half_life: int = None  # steps the Adam rates hold, then halve every as many; 0: constant
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
    init_from: str = None  # the checkpoint a new run's weights started from (--init_from)

    def __post_init__(self):
        unset = [knob for knob in recipes.KNOBS if getattr(self, knob) is None]
        if unset:
            raise ValueError(f"training choices left unresolved: {', '.join(unset)} (build "
                             "RunSettings with RunSettings.create)")

    @classmethod
    def create(cls, *, recipe=recipes.DEFAULT, resumed_choices=None, **values):
        """RunSettings with every training choice resolved: the one place that happens.

        Each knob (`dcgan.recipes.KNOBS`) given in `values` (None: not given) wins over
        `resumed_choices` (a resumed run's `choices`: it keeps what it trained with), which
        stand in for the `recipe`'s own values. Raises UsageError for an unknown recipe or
        --augment policy.
        """
        given = {knob: values.pop(knob) for knob in recipes.KNOBS if knob in values}
        return cls(recipe=recipe, **values, **recipes.resolve(recipe, given, resumed_choices))

    @property
    def choices(self):
        """The training choices, knob -> value (what `recipes.resolve` returns)."""
        return {knob: getattr(self, knob) for knob in recipes.KNOBS}

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
        """Inverse of to_dict.

        Runs saved before the crop moved out of `spec` carry a `spec` block: its crop is taken,
        and its output size and channels must agree with the model's. Raises UnknownSettings
        for keys this version does not know (a newer version wrote them), ValueError naming
        the first key that is missing or holds the wrong type.
        """
        old_spec = values.get("spec") if isinstance(values, dict) else None
        _refuse_unknown(values)
        values = _fields_of(cls, values)
        values.setdefault("recipe", recipes.CARPEDM20)  # saved before recipes: carpedm20's
        values.setdefault("lr_half_life", 0)  # saved before the rates could decay: constant
        values.setdefault("beta2", 0.999)  # saved before --beta2: Adam's default, as trained
        model = ModelConfig(**_fields_of(ModelConfig, values["model"]))
        values["model"] = model
        if old_spec is not None:
            spec = ImageSpec(**_fields_of(ImageSpec, old_spec))
            if (spec.output_height, spec.output_width, spec.c_dim) != \
                    (model.output_height, model.output_width, model.c_dim):
                raise ValueError(f"its image size {spec.output_height}x{spec.output_width}x"
                                 f"{spec.c_dim} disagrees with its model's")
            values.update(crop_height=spec.crop_height, crop_width=spec.crop_width)
        return cls.create(**values)

    def replace(self, **changes):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long one launch of `--train` may train, beside the run's `--epoch`: the first limit
    reached stops it, with a checkpoint, as a stop signal does.

    A property of the launch, not of the run: it is not in run.json, and a resume without these
    flags trains to `--epoch`. The defaults are the command line's (None: no such limit).
    """

    steps: int = None  # the run's total step count to stop at (a resume counts those done)
    minutes: float = None  # training time of this launch, from its first step
    # Whether the run's --epoch stops this launch too: not when --steps or --minutes is given
    # without --epoch ("train ten minutes" should not end at the default 25 epochs of a small
    # folder).
    epoch_limit: bool = True

    def __post_init__(self):
        if self.steps is not None and self.steps <= 0:
            raise ValueError(f"steps {self.steps}")
        if self.minutes is not None and not 0 < self.minutes < float("inf"):
            raise ValueError(f"minutes {self.minutes}")


class UnknownSettings(ValueError):
    """run.json keys this version does not know; `names` lists them."""

    def __init__(self, names):
        super().__init__(", ".join(names))
        self.names = names


# Keys older versions wrote that this one reads differently (see RunSettings.from_dict).
RETIRED_KEYS = ("spec",)


def _refuse_unknown(values):
    """Raise UnknownSettings for keys of a run.json (and of its model) that are not settings
    of this version: using the run without them, or rewriting it without them, could lose or
    change what they meant."""
    if not isinstance(values, dict):
        return
    unknown = [key for key in values
               if key not in RETIRED_KEYS and key not in _FIELD_NAMES[RunSettings]]
    model = values.get("model")
    if isinstance(model, dict):
        unknown += [f"model.{key}" for key in model if key not in _FIELD_NAMES[ModelConfig]]
    if unknown:
        raise UnknownSettings(sorted(unknown))


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



_FIELD_NAMES = {cls: {field.name for field in dataclasses.fields(cls)}
                for cls in (RunSettings, ModelConfig)}


def save(settings):
    """Write run.json into the run's checkpoint folder (atomically and durably)."""
    folder = settings.run_checkpoint_dir
    os.makedirs(folder, exist_ok=True)
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True)
    durable.write_atomically(os.path.join(folder, RUN_FILE), text.encode())


class NewerRun(UsageError):
    """A run.json holding settings this version does not know: a newer version of the tool
    wrote it. Every mode refuses the run and leaves the file as it is."""

    def __init__(self, path, names):
        super().__init__(f"{path} has settings this version of dcgan does not know "
                         f"({', '.join(names)}): a newer version wrote it; upgrade dcgan to use "
                         "this run (the run is left as it is)")
        self.path = path
        self.reason = f"settings this version does not know: {', '.join(names)}"


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
    except UnknownSettings as unknown:
        raise NewerRun(path, unknown.names) from None
    except (ValueError, TypeError) as error:
        raise DamagedRun(path, str(error)) from None
    return settings.replace(name=os.path.basename(os.path.normpath(run_folder)))


def _checked(run):
    """`run` if its values can build a network, else ValueError (a hand-edited run.json)."""
    model = run.model
    sizes = (model.output_height, model.output_width, model.c_dim, model.z_dim, model.gf_dim,
             model.df_dim, model.gfc_dim, model.dfc_dim, run.batch_size)
    if min(sizes) <= 0 or model.y_dim < 0 or model.z_dist not in latent.NAMES \
            or model.g_kernel not in G_KERNELS:
        raise ValueError("its sizes, z_dist or g_kernel cannot build a network")
    if not run.dataset or "/" in run.dataset:
        raise ValueError(f"'dataset' is {run.dataset!r}")
    return run


def describe(settings):
    """The run's data and sizes in words, e.g. 'anime, 96x96 crop -> 32x32, batch 64'."""
    size = f"{settings.model.output_height}x{settings.model.output_width}"
    if settings.crop_height:
        size = f"{settings.crop_height}x{settings.crop_width} crop -> {size}"
    return f"{settings.dataset}, {size}, batch {settings.batch_size}"
