"""The runs under a checkpoint folder: their names, the one a mistyped --name was meant to be,
and `--list`, a line per run (no TensorFlow needed)."""

import glob
import json
import os

from dcgan import checkpoint_files, words
from dcgan.settings import RUN_FILE, DamagedRun, NewerRun, RunSettings, describe, load

COLUMNS = ("RUN", "DATA AND SIZES", "STEP", "RECIPE", "LAST --evaluate")


def run_names(checkpoint_dir):
    """The names of the runs (folders holding run.json) under `checkpoint_dir`, sorted."""
    try:
        names = os.listdir(checkpoint_dir)
    except OSError:  # no such folder, or not one: it holds no run
        return []
    return sorted(name for name in names
                  if os.path.isfile(os.path.join(checkpoint_dir, name, RUN_FILE)))


def other_runs(name, checkpoint_dir, flag="--name"):
    """What to do when run `name` (given to `flag`) is not under `checkpoint_dir`: the closest
    name there, if one is close, and the command that lists them all."""
    names = run_names(checkpoint_dir)
    if not names:
        return f"there is no run in {words.folder(checkpoint_dir)} yet"
    where = "" if checkpoint_dir == RunSettings.checkpoint_dir else \
        f" --checkpoint_dir {checkpoint_dir}"
    listing = f"`{words.command()} --list{where}` lists the runs"
    close = closest(name, checkpoint_dir)
    return f"did you mean {flag} {close}? {listing}" if close else listing


def closest(name, checkpoint_dir):
    """The name of the run under `checkpoint_dir` closest to `name` (a typo's run), if one is
    close and is not `name` itself; else None."""
    return words.closest(name, run_names(checkpoint_dir))


def listing(checkpoint_dir, sample_dir=None, dataset=None):
    """`--list`: a header and a line per run under `checkpoint_dir` (of `dataset` if given):
    its name, data and sizes, newest checkpoint's step, recipe and last --evaluate scores (read
    from the run's sample folder, `sample_dir`/<run> when given). One line says so when there
    is no run."""
    rows = []
    for name in run_names(checkpoint_dir):
        row = _row(os.path.join(checkpoint_dir, name), sample_dir, dataset)
        if row is not None:
            rows.append(row)
    if not rows:
        which = f"of {dataset} " if dataset else ""
        return [f"no runs {which}in {words.folder(checkpoint_dir)}: train one with "
                f"`{words.command()} --dataset {dataset or 'FOLDER'} --train`"]
    rows.insert(0, COLUMNS)
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)),
                       row[-1]])
            .rstrip() for row in rows]


def _row(folder, sample_dir, dataset):
    """The cells of one run's line, or None for a run of another dataset."""
    name = os.path.basename(folder)
    try:
        run = load(folder)
    except (DamagedRun, NewerRun) as error:
        why = "damaged" if isinstance(error, DamagedRun) else "from a newer dcgan"
        return None if dataset else (name, f"({RUN_FILE} is {why})", "", "", "")
    if dataset and run.dataset != dataset:
        return None
    if sample_dir is not None:
        run = run.replace(sample_dir=sample_dir)
    steps = checkpoint_files.complete(folder)
    step = str(checkpoint_files.step_of(steps[0])) if steps else "none"
    return name, describe(run), step, run.recipe, last_scores(run.run_sample_dir)


def last_scores(run_sample_dir):
    """The headline numbers of the newest eval_*.json in a run's sample folder, e.g.
    'SWD 3.21, NDB/K 0.120 at step 500', or '' when it has none that can be read."""
    records = []
    for path in glob.glob(os.path.join(glob.escape(run_sample_dir), "eval_*.json")):
        try:
            records.append((os.path.getmtime(path), path))
        except OSError:  # removed since it was listed
            continue
    for _, path in sorted(records, reverse=True):
        try:
            with open(path, "rb") as handle:
                record = json.load(handle)
            return (f"SWD {record['swd_avg']:.2f}, NDB/K {record['ndb_over_k']:.3f} at step "
                    f"{record['step']}")
        except (OSError, ValueError, KeyError, TypeError):  # damaged: try the one before
            continue
    return ""
