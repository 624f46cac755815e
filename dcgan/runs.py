"""Finding a run: the newest under a folder, by its sizes or name, and the run --train resumes."""

import dataclasses
import glob
import logging
import os
import re

from dcgan import checkpoint_files, run_list, transfer, words
from dcgan.data import MNIST
from dcgan.errors import UsageError, require
from dcgan.flag_checks import check_folder_name, from_flags
from dcgan.network import ModelConfig
from dcgan.settings import RUN_FILE, DamagedRun, NewerRun, RunSettings, load

log = logging.getLogger(__name__)


NEW_RUN_HINT = "or --name NAME for a new run beside it"


def check_compatible(saved, wanted):
    """Raise UsageError if `wanted` would build a different network than the saved run, or
    train it on other images (another dataset or crop).

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
    if _crop(saved) != _crop(wanted):  # what the network learnt is what the crop showed it
        raise UsageError(f"{folder} was trained on {_crop_words(saved)}, not "
                         f"{_crop_words(wanted)}: pass {_crop_flags(saved)} to resume it, "
                         f"{NEW_RUN_HINT}")
    for field in dataclasses.fields(ModelConfig):
        old = getattr(saved.model, field.name)
        new = getattr(wanted.model, field.name)
        if old != new:
            raise UsageError(
                f"{folder} was trained with {field.name}={old}, not {new}: "
                f"pass --{field.name} {old} to resume it, {NEW_RUN_HINT}")


def _crop(settings):
    return settings.crop_height, settings.crop_width


def _crop_words(settings):
    """What a run's pictures are cut to: '96x64 crops of its pictures', or 'its whole pictures
    (no crop)'."""
    height, width = _crop(settings)
    return f"{height}x{width} crops of its pictures" if height else "its whole pictures (no crop)"


def _crop_flags(settings):
    """The flags that give `settings`' crop: '--image_size 96', '--input_height 96
    --input_width 64', or '--nocrop'."""
    height, width = _crop(settings)
    if not height:
        return "--nocrop"
    return f"--image_size {height}" if height == width else \
        f"--input_height {height} --input_width {width}"


def newest_run(checkpoint_dir, dataset=None, picks=None, missing_ok=False):
    """Settings of the most recently saved run under `checkpoint_dir` (of `dataset` if given,
    with the sizes of `run_picks` if given).

    A run whose run.json is damaged, or was written by a newer version, is skipped with a
    warning, so one such run never hides the healthy ones. Without a run, raises UsageError
    naming the folder searched and the command that makes a run (the damaged run when only
    damaged ones are left), or returns None when `missing_ok`.
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
        except (DamagedRun, NewerRun) as error:
            if _may_be_of(folder, dataset):
                why = "is damaged" if isinstance(error, DamagedRun) else "is from a newer dcgan"
                log.warning("skipping %s: %s %s (%s)", folder, error.path, why, error.reason)
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
# found, how this machine computes (the saved precision is what the last machine resolved), and
# how this launch is distributed (any layout restores the run's checkpoints; run.json records
# the last launch's, as it does the precision).
NOT_RESUMED = ("checkpoint_dir", "precision", "intra_op_threads", "inter_op_threads",
               "distribute", "devices", "worker_timeout")
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
    command = " ".join(filter(None, (words.command(), "--dataset", folder, sizes, "--train")))
    note = " (FOLDER: your pictures' folder under data/)" if folder == "FOLDER" else ""
    return (f"no trained checkpoint {which + ' ' if which else ''}in "
            f"{words.folder(checkpoint_dir)}: train one first with `{command}`{note}")



def resume_flags(saved, flags, present):
    """The flags of a resumed run: those given now, and the saved run's for the rest.

    Returns (flags, present) for `from_flags` (which takes the saved training choices from
    the saved run itself). The crop is the saved one unless a crop flag is given now (and
    `check_compatible` refuses another).
    """
    skip = {"model", "crop_height", "crop_width", *NOT_RESUMED}
    kept = {f.name: getattr(saved, f.name) for f in dataclasses.fields(RunSettings)
            if f.name not in skip}
    kept.update((f.name, getattr(saved.model, f.name)) for f in dataclasses.fields(ModelConfig)
                if f.name in flags)
    merged = {**flags, **{name: value for name, value in kept.items() if name not in present}}
    present = set(present)
    if not present & set(CROP_FLAGS):
        merged["crop"] = bool(saved.crop_height)
        if saved.crop_height:
            merged.update(input_height=saved.crop_height, input_width=saved.crop_width)
        present.add("crop")
    return merged, present


def training_run(flags, present):
    """The run `--train` trains: (its final settings, the saved run it continues or None).

    The one place a training run's settings are resolved: --name picks that folder; otherwise
    the newest trained run of --dataset whose sizes match the size flags given is resumed, and
    without one a new run starts. A resumed run keeps its saved settings except those given on
    the command line, and must build the same network.
    """
    check_folder_name(flags.get("name"), "name", "--checkpoint_dir")
    checkpoint_dir = flags["checkpoint_dir"]
    if flags.get("name"):
        saved = load(os.path.join(checkpoint_dir, flags["name"]))
    else:
        saved = newest_run(checkpoint_dir, flags["dataset"], run_picks(flags, present),
                           missing_ok=True)
    if saved is None:
        run = from_flags(flags, present)
        saved = _left_in(run.run_checkpoint_dir)
    else:
        run = from_flags(*resume_flags(saved, flags, present), resumed=saved)
    if saved is not None:
        check_compatible(saved, run)
    if "init_from" in present:
        run = transfer.resolve(flags, present, run, saved)
    return run, saved


def _left_in(folder):
    """The run.json already in a new run's folder (a run that saved no checkpoint, which the
    search for a run to resume skips), or None. A damaged one is rewritten from the flags once
    the checkpoints restore (they check they hold the flags' network)."""
    if not os.path.isdir(folder):  # a new folder (one that cannot be made: outputs says so)
        return None
    try:
        return load(folder)
    except DamagedRun as damaged:
        log.warning("%s is damaged (%s): writing it again from these flags once a checkpoint "
                    "restores", damaged.path, damaged.reason)
        return None


def sampling_run(flags, present):
    """The saved run --visualize, --evaluate and --export read: the folder of a --checkpoint
    path, --name, or the newest trained run matching --dataset and the size flags given."""
    checkpoint_dir, checkpoint = flags["checkpoint_dir"], flags.get("checkpoint")
    if checkpoint is not None:
        check_checkpoint_choice(checkpoint)
    if checkpoint and not checkpoint.isdigit():
        given = sorted(set(present) & {"name", "dataset", *PICK_FLAGS})
        require(not given, f"--checkpoint {checkpoint} is a path, which picks its run: drop "
                           + " ".join(f"--{name}" for name in given))
        folder = os.path.dirname(os.path.abspath(checkpoint))
    elif flags.get("name") is not None:  # `--name=` is a mistake, not "the newest run"
        check_folder_name(flags["name"], "name", "--checkpoint_dir")
        folder = os.path.join(checkpoint_dir, flags["name"])
    else:
        dataset = flags["dataset"] if "dataset" in present else None
        return newest_run(checkpoint_dir, dataset, run_picks(flags, present))
    saved = load(folder)
    if saved is None and checkpoint and not checkpoint.isdigit():
        raise UsageError(f"--checkpoint {checkpoint} is not in a run's folder (no {RUN_FILE} in "
                         f"{words.folder(folder)}): give a checkpoint of a trained run, such as "
                         f"{os.path.join(checkpoint_dir, 'RUN', checkpoint_files.PREFIX)}-16")
    require(saved is not None, f"{words.folder(folder)} holds no run (no {RUN_FILE}): "
                               + run_list.other_runs(flags.get("name"), checkpoint_dir))
    return saved.replace(checkpoint_dir=os.path.dirname(os.path.normpath(folder)))


# A number that is not a whole step: negative, fractional or with an exponent.
_NOT_A_STEP = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def check_checkpoint_choice(choice):
    """Raise UsageError unless --checkpoint `choice` is a step number (whole, 0 or more) or the
    path of a checkpoint (not a folder)."""
    example = f"{checkpoint_files.PREFIX}-16"
    require(choice.isdigit() or (choice and not _NOT_A_STEP.fullmatch(choice)),
            f"--checkpoint takes a step number (whole, 0 or more, such as 16) or a checkpoint's "
            f"path, not {choice!r}")
    require(not os.path.isdir(choice), f"--checkpoint {choice} is a folder: give one checkpoint "
                                       f"in it, such as {os.path.join(choice, example)}")
