"""Saving and restoring checkpoints (tf.compat.v1 Saver), safe against kills and full disks.

TensorFlow's V2 save is already atomic file by file (checked with strace on TF 2.21): the data
and index files are written as `<name>.tempstate<random>` and renamed when complete, and the
`checkpoint` index is rewritten (temporary file, then rename) only after both. So a kill at any
moment leaves every listed checkpoint complete, plus at worst some temporary files, which the next
run removes. On top of that this module:

- refuses to save weights that are not finite, so a diverged state never replaces a good one;
- turns a failed write (disk full, file too large, read-only folder) into a TrainingError that
  names the intact checkpoint, after removing the partial files;
- on restore, falls back to the next older checkpoint if the newest cannot be read, and tells
  the Saver about the checkpoints of earlier runs so `max_to_keep` holds across restarts;
- holds a lock on the run folder while training, so two runs never write the same checkpoints.
"""

import contextlib
import fcntl
import glob
import logging
import os
import re

import tensorflow as tf

from dcgan.errors import TrainingError, UsageError

tf1 = tf.compat.v1
log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "DCGAN.model"
LOCK_FILE = ".lock"
# Names TensorFlow gives files it has not finished writing (see the module docstring).
TEMPORARY_PATTERNS = ("*.tempstate*", "checkpoint.tmp*")


def _is_complete(prefix):
    return os.path.exists(prefix + ".index") and bool(glob.glob(prefix + ".data-*"))


def step_of(checkpoint_path):
    """The training step a checkpoint path was saved at (its numeric suffix)."""
    return int(checkpoint_path.rsplit("-", 1)[1])


def _on_disk(folder):
    return [path[:-len(".index")] for path in
            glob.glob(os.path.join(folder, f"{CHECKPOINT_PREFIX}-*.index"))]


def listed(folder):
    """Prefixes of the complete checkpoints the `checkpoint` index lists, newest first.

    Without an index file (deleted by hand) every complete checkpoint on disk is listed.
    """
    if not os.path.isdir(folder):
        return []
    state = tf1.train.get_checkpoint_state(folder)
    if state is None:
        paths = set(_on_disk(folder))
    else:
        paths = set(state.all_model_checkpoint_paths) | {state.model_checkpoint_path}
    complete = [path for path in paths if path and _is_complete(path)]
    return sorted(complete, key=step_of, reverse=True)


def remove_unlisted(folder):
    """Delete checkpoints the index does not list: saves killed between writing their files and
    updating the index, or old ones killed before the Saver deleted them."""
    keep = {os.path.abspath(path) for path in listed(folder)}
    if not keep:
        return
    for prefix in _on_disk(folder):
        if os.path.abspath(prefix) not in keep:
            for path in glob.glob(glob.escape(prefix) + ".*"):
                os.remove(path)


def latest(folder):
    """Path prefix of the newest complete checkpoint in `folder`, or None."""
    paths = listed(folder)
    return paths[0] if paths else None


def remove_leftovers(folder):
    """Delete the temporary files of saves that never finished (killed or out of space)."""
    for pattern in TEMPORARY_PATTERNS:
        for path in glob.glob(os.path.join(folder, pattern)):
            with contextlib.suppress(FileNotFoundError):  # another cleaner was first
                os.remove(path)


def _first_line(error):
    message = getattr(error, "message", None) or str(error)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


class RunLock:
    """An exclusive lock on a run folder for the life of a training process.

    The kernel drops it when the process dies, however it dies, so a killed run never leaves a
    stale lock behind.
    """

    def __init__(self, folder):
        self.folder = folder
        self._handle = None

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        self._handle = open(os.path.join(self.folder, LOCK_FILE), "a+")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise UsageError(f"another training process is using {self.folder}: wait for it "
                             "to finish, or pass --name NAME for a separate run") from None
        return self

    def __exit__(self, *exc):
        self._handle.close()  # closing releases the lock


class Checkpointer:
    """Saves every variable of the graph under `folder`, keeping the newest `max_to_keep`."""

    def __init__(self, folder, max_to_keep=5, var_list=None):
        self.folder = folder
        # Relative paths in the index, so a run folder can be moved or copied and still resumes.
        self.saver = tf1.train.Saver(var_list=var_list, max_to_keep=max_to_keep,
                                     save_relative_paths=True)
        # Made here, not on first use, so the graph can be finalised after construction.
        self.initializer = tf1.global_variables_initializer()
        variables = var_list if var_list is not None else tf1.global_variables()
        checks = [tf.reduce_all(tf.math.is_finite(v)) for v in variables
                  if v.dtype.base_dtype.is_floating]
        self.all_finite = tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)
        self.saved_step = None

    def restore_or_initialize(self, session):
        """Restore the newest readable checkpoint if any, else initialise; returns the step."""
        remove_leftovers(self.folder)
        remove_unlisted(self.folder)
        paths = listed(self.folder)
        if not paths:
            session.run(self.initializer)
            self.saved_step = None
            return 0
        self.saver.recover_last_checkpoints(sorted(paths, key=step_of))
        self.saved_step = self._restore_newest_readable(session, paths)
        return self.saved_step

    def restore(self, session, path=None):
        """Restore checkpoint `path`, or by default the newest readable one (falling back to
        older ones as training does); returns its step."""
        if path:
            self.saver.restore(session, path)
            return step_of(path)
        return self._restore_newest_readable(session, listed(self.folder))

    def _restore_newest_readable(self, session, paths):
        """Restore the first of `paths` (newest first) that reads; returns its step."""
        problems = []
        for path in paths:
            try:
                self.saver.restore(session, path)
            except (tf.errors.OpError, ValueError) as error:
                problems.append(f"{os.path.basename(path)}: {_first_line(error)}")
                log.warning("cannot read checkpoint %s (%s): trying an older one", path,
                            _first_line(error))
                continue
            return step_of(path)
        raise TrainingError(f"no checkpoint in {self.folder} can be read ({'; '.join(problems)})"
                            ": move the folder away to start afresh")

    def kept(self):
        """Which checkpoint survives a failure now, in words (for error messages)."""
        if self.saved_step is None:
            return "no earlier checkpoint exists"
        return f"the checkpoint of step {self.saved_step} in {self.folder} is intact"

    def save(self, session, step):
        """Write a checkpoint for `step`; returns its path prefix.

        Raises TrainingError, leaving the previous checkpoint as it was, when the weights are
        not finite or the files cannot be written.
        """
        if not session.run(self.all_finite):
            raise TrainingError(f"the weights at step {step} are not finite (training diverged) "
                                f"and were not saved; {self.kept()} (try a lower "
                                "--learning_rate)")
        try:
            os.makedirs(self.folder, exist_ok=True)
            path = self.saver.save(session, os.path.join(self.folder, CHECKPOINT_PREFIX),
                                   global_step=step, write_meta_graph=False)
        except (tf.errors.OpError, OSError) as error:
            remove_leftovers(self.folder)
            remove_unlisted(self.folder)
            raise TrainingError(f"cannot write the checkpoint of step {step} "
                                f"({_first_line(error)}); {self.kept()}: free some disk space "
                                "and train again to resume") from None
        self.saved_step = step
        return path


def pick(folder, choice):
    """The checkpoint `--checkpoint` names in run folder `folder`: None for the newest, a step
    number, or a path (with or without its `.index`). Raises UsageError naming the steps kept."""
    if not choice:
        return None
    if choice.isdigit():
        found = [path for path in listed(folder) if step_of(path) == int(choice)]
    else:
        prefix = re.sub(r"\.(index|data-\d+-of-\d+)$", "", choice)
        named = re.search(r"-\d+$", prefix) and _is_complete(prefix)
        found = [prefix] if named else []
    if found:
        return found[0]
    steps = ", ".join(str(step_of(path)) for path in reversed(listed(folder)))
    raise UsageError(f"no checkpoint {choice} in {folder}/: pass --checkpoint with one of its "
                     f"steps ({steps})" if steps else f"{folder}/ holds no checkpoint")
