"""A run's output folders: made once before training, checked writable, owned by one run."""

import contextlib
import os

from dcgan import durable
from dcgan.errors import UsageError
from dcgan.settings import RUN_FILE

OUTPUT_FOLDERS = (("checkpoint_dir", "run_checkpoint_dir"), ("sample_dir", "run_sample_dir"),
                  ("tensorboard_dir", "run_log_dir"))


def make_output_folders(settings):
    """Create the run's checkpoint, sample and log folders and check that each can be written.

    Done before anything is trained, so a read-only or misspelt folder is a UsageError naming
    its flag rather than a failure at the first checkpoint, hours later. The folders this call
    made are removed again when one of them is refused: a refused command leaves nothing.
    """
    made = []
    for flag, attribute in OUTPUT_FOLDERS:
        folder = getattr(settings, attribute)
        made += _missing(folder)
        try:
            durable.make_writable_folder(folder, f"--{flag}", getattr(settings, flag))
        except UsageError:
            _remove_empty(made)
            raise
    for folder in (settings.run_sample_dir, settings.run_log_dir):
        claim_output_folder(folder, settings.run_checkpoint_dir)


def _missing(folder):
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def _remove_empty(folders):
    """Remove each of `folders` (deepest first within each run of them) that is empty."""
    for folder in folders:
        with contextlib.suppress(OSError):  # not made, or not empty: not ours to remove
            os.rmdir(folder)


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
    durable.write_atomically(marker, (os.path.relpath(run_folder, folder) + "\n").encode())
