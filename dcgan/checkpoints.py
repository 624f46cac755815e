"""Saving and restoring checkpoints (tf.compat.v1 Saver), safe against kills, crashes, full disks.

TensorFlow's V2 save is atomic file by file (checked with strace on TF 2.21): the data and index
files are written as `<name>.tempstate<random>` and renamed when complete. So a kill at any
moment leaves every complete checkpoint readable, plus at worst some temporary files, which the
next run removes. On top of that this module:

- fsyncs each new checkpoint's files and their folder before anything older is deleted, so an
  OS crash cannot lose the newest checkpoint;
- finds checkpoints by their files (`dcgan.checkpoint_files`), never by TensorFlow's
  `checkpoint` index file, which a crash can leave empty or garbled;
- refuses to save weights that are not finite, so a diverged state never replaces a good one;
- turns a failed write (disk full, file too large, read-only folder) into a TrainingError that
  names the intact checkpoint, after removing the partial files;
- on restore, checks that the checkpoint holds this network and that its weights are finite,
  falling back to the next older checkpoint when not (or when it cannot be read), and looks
  again when a checkpoint vanishes while it is read (a trainer beside a sampler pruning);
- deletes old checkpoints beyond `max_to_keep` itself, only after a newer one is safely on disk;
- holds a lock on the run folder while training, so two runs never write the same checkpoints.
"""

import contextlib
import fcntl
import logging
import os
import signal

import tensorflow as tf

from dcgan import checkpoint_files, durable, words
from dcgan.errors import TrainingError, UsageError, describe_os_error

tf1 = tf.compat.v1
log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = checkpoint_files.PREFIX
INDEX_FILE = "checkpoint"  # TensorFlow's list of checkpoints, kept for other tools, never read
LOCK_FILE = ".lock"
LOOKS = 20  # listings of the folder tried when checkpoints vanish while they are read
# Lines of a TensorFlow error message that are not the reason (graph-mode boilerplate).
_BOILERPLATE = ("Graph execution error", "Detected at node", "Node:", "File ", "[[",
                "Restoring from checkpoint failed", "Original error", "; NodeDef:")

step_of = checkpoint_files.step_of

# A test hook: with DCGAN_PAUSE_AT set to one of these points, the process stops itself
# (SIGSTOP) on reaching it, so a test can kill it exactly there instead of after a random sleep
# (tests/test_reliability.py). Unset, as in every real run, it costs one lookup per save.
PAUSE_ENV = "DCGAN_PAUSE_AT"
PAUSE_POINTS = (
    "save",    # a save begins: nothing of this step is on disk yet
    "synced",  # its files are written, renamed and fsynced; older ones are not yet pruned
    "saved",   # the save is complete, older checkpoints pruned
)


def _pause_point(point):
    """Stop this process at `point` when DCGAN_PAUSE_AT names it (see PAUSE_POINTS)."""
    if os.environ.get(PAUSE_ENV) == point:
        os.kill(os.getpid(), signal.SIGSTOP)


def reason_of(error, with_node=False):
    """The line of an error's message that says what went wrong (TensorFlow's graph-mode
    messages start with 'Graph execution error:' and a stack; the reason is further down).
    `with_node`: followed by the graph node it names, `(at node NAME)`."""
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(_BOILERPLATE)]
    reason = reasons[-1] if reasons else lines[0] if lines else type(error).__name__
    node = next((line.split("'")[1] for line in lines
                 if line.startswith("Node: '") and line.count("'") >= 2), None)
    return f"{reason} (at node {node})" if with_node and node else reason


def listed(folder):
    """Path prefixes of the complete checkpoints in `folder`, newest first."""
    return checkpoint_files.complete(folder)


def latest(folder):
    """Path prefix of the newest complete checkpoint in `folder`, or None."""
    paths = listed(folder)
    return paths[0] if paths else None


def _remove(paths):
    for path in paths:
        with contextlib.suppress(FileNotFoundError):  # another cleaner was first
            os.remove(path)


def remove_leftovers(folder):
    """Delete what saves that never finished left behind (killed or out of space): temporary
    files, and the files of a step whose index or a data shard is missing (it cannot be read).

    Only for a trainer holding the run's lock: no save of its own is under way then."""
    _remove(checkpoint_files.temporary_files(folder) + checkpoint_files.incomplete_files(folder))


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
        # Never opened through a link: one planted there is replaced, its target left alone.
        self._handle = durable.append_to(os.path.join(self.folder, LOCK_FILE))
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise UsageError(f"another training process is using {self.folder}: wait for it "
                             "to finish, or pass --name NAME for a separate run") from None
        return self

    def __exit__(self, *exc):
        self._handle.close()  # closing releases the lock


class Unusable(Exception):
    """A checkpoint that cannot be used; `mismatch` when it holds another network."""

    def __init__(self, reason, mismatch=False):
        super().__init__(reason)
        self.reason = reason
        self.mismatch = mismatch


class Checkpointer:
    """Saves every variable of the graph under `folder`, keeping the newest `max_to_keep` and
    the newest `max_to_keep` on the schedule (steps that are multiples of `every`)."""

    def __init__(self, folder, max_to_keep=5, var_list=None, every=None):
        self.folder = folder
        self.max_to_keep = max_to_keep
        self.every = every
        self.variables = var_list if var_list is not None else tf1.global_variables()
        # The Saver deletes nothing (max_to_keep=None): pruning waits until the new checkpoint
        # is fsync'ed (see _prune). Relative paths in its index, so a run folder can be moved.
        self.saver = tf1.train.Saver(var_list=self.variables, max_to_keep=None,
                                     save_relative_paths=True)
        # Made here, not on first use, so the graph can be finalised after construction.
        self.initializer = tf1.global_variables_initializer()
        checks = [tf.reduce_all(tf.math.is_finite(v)) for v in self.variables
                  if v.dtype.base_dtype.is_floating]
        self.all_finite = tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)
        self.saved_step = None

    def restore_or_initialize(self, session):
        """Restore the newest usable checkpoint if any, else initialise; returns the step."""
        remove_leftovers(self.folder)
        newest = latest(self.folder)
        if newest is None:
            session.run(self.initializer)
            self.saved_step = None
            return 0
        self.saved_step = self.restore(session)
        if self.saved_step != step_of(newest):  # the run's first line named the newest: say where
            log.info("training goes on from step %d, its newest usable checkpoint",
                     self.saved_step)
        return self.saved_step

    def restore(self, session, path=None):
        """Restore checkpoint `path`, or by default the newest usable one (falling back to
        older ones as training does); returns its step."""
        if path:
            try:
                self._restore_checked(session, path)
            except Unusable as unusable:
                raise TrainingError(f"cannot use checkpoint {path}: {unusable.reason}") from None
            return step_of(path)
        return self._restore_newest_usable(session)

    def _shape_problem(self, path):
        """Why the checkpoint at `path` does not hold this graph's variables, or None."""
        shapes = tf1.train.load_checkpoint(path).get_variable_to_shape_map()
        for variable in self.variables:
            name, shape = variable.op.name, variable.shape.as_list()
            if name not in shapes:
                return f"it was saved by another network (it has no variable {name})"
            if shapes[name] != shape:
                return (f"it was saved by another network ({name} is {shapes[name]} there, "
                        f"{shape} here)")
        return None

    def _restore_checked(self, session, path):
        """Restore `path` after checking it holds this network; check the weights are finite.

        Raises Unusable with the reason."""
        try:
            problem = self._shape_problem(path)
            if problem:
                raise Unusable(problem, mismatch=True)
            self.saver.restore(session, path)
        except (tf.errors.OpError, ValueError) as error:
            raise Unusable(reason_of(error)) from None
        if not session.run(self.all_finite):
            raise Unusable("its weights are not finite (NaN or Inf)")

    def _first_usable(self, session, paths, problems):
        """Restore the first of `paths` that works, recording each failure in `problems`;
        returns its step, or None when all failed or one vanished (look again)."""
        for path in paths:
            try:
                self._restore_checked(session, path)
                return step_of(path)
            except Unusable as unusable:
                if not checkpoint_files.is_complete(path):
                    # A trainer beside us pruning old checkpoints: normal, not a problem.
                    log.info("checkpoint %s was deleted while it was being read (a training "
                             "process pruning old checkpoints?): looking again", path)
                    return None
                problems[path] = unusable
                log.warning("cannot use checkpoint %s (%s): trying an older one", path,
                            unusable.reason)
        return None

    def _restore_newest_usable(self, session):
        """Restore the newest checkpoint that works, listing the folder again (up to LOOKS
        times) when checkpoints vanish while being read; returns its step."""
        problems = {}
        for _ in range(LOOKS):
            paths = [path for path in listed(self.folder) if path not in problems]
            if not paths:
                break
            step = self._first_usable(session, paths, problems)
            if step is not None:
                return step
            if all(path in problems for path in paths):
                break
        raise self._none_usable(problems)

    def _none_usable(self, problems):
        """The error for a folder none of whose checkpoints could be used."""
        details = "; ".join(f"{os.path.basename(path)}: {unusable.reason}"
                            for path, unusable in problems.items())
        if not problems:
            return TrainingError(f"every checkpoint in {self.folder} was deleted while it was "
                                 "being read: try again")
        if all(unusable.mismatch for unusable in problems.values()):
            return UsageError(f"the checkpoints in {self.folder} hold another network than "
                              f"this one ({details}): pass the flags the run was trained with, "
                              "or --checkpoint_dir for a new run")
        return TrainingError(f"no checkpoint in {self.folder} can be used ({details}); the "
                             "files are left as they are: pass --checkpoint_dir to train a new "
                             "run elsewhere")

    def kept(self):
        """Which checkpoint survives a failure now, in words (for error messages)."""
        if self.saved_step is None:
            return "no earlier checkpoint exists"
        return f"the checkpoint of step {self.saved_step} in {self.folder} is intact"

    def save(self, session, step):
        """Write a checkpoint for `step` durably, then delete those beyond `max_to_keep`;
        returns its path prefix.

        Raises TrainingError, leaving the previous checkpoint as it was, when the weights are
        not finite or the files cannot be written.
        """
        if not session.run(self.all_finite):
            raise TrainingError(f"the weights at step {step} are not finite (training diverged) "
                                f"and were not saved; {self.kept()} (try a lower "
                                "--learning_rate)")
        _pause_point("save")
        prefix = checkpoint_files.prefix_of(self.folder, step)
        try:
            os.makedirs(self.folder, exist_ok=True)
            # A checkpoint of this step on disk is one the restore skipped as unusable.
            _remove(checkpoint_files.files_of(prefix))
            path = self.saver.save(session, os.path.join(self.folder, CHECKPOINT_PREFIX),
                                   global_step=step, write_meta_graph=False)
            self._sync(prefix)
        except (tf.errors.OpError, OSError) as error:
            _remove(checkpoint_files.temporary_files(self.folder)
                    + checkpoint_files.files_of(prefix))
            reason = describe_os_error(error) if isinstance(error, OSError) else reason_of(error)
            raise TrainingError(f"cannot write the checkpoint of step {step} ({reason}); "
                                f"{self.kept()}: free some disk space (or fix the folder) and "
                                "train again to resume") from None
        self.saved_step = step
        _pause_point("synced")
        self._prune(step)
        _pause_point("saved")
        return path

    def _sync(self, prefix):
        """fsync a new checkpoint's files, TensorFlow's index file and the folder."""
        index = os.path.join(self.folder, INDEX_FILE)
        for path in [*checkpoint_files.files_of(prefix), index]:
            if os.path.exists(path):
                durable.sync_file(path)
        durable.sync_folder(self.folder)

    def _prune(self, step):
        """Delete the complete checkpoints up to `step` beyond those kept (none when
        `max_to_keep` is 0 or None: keep all, as TensorFlow's Saver does)."""
        if not self.max_to_keep:
            return
        older = [path for path in listed(self.folder) if step_of(path) <= step]
        doomed = pruned(older, self.max_to_keep, self.every)
        for path in doomed:
            _remove(checkpoint_files.files_of(path))
        if doomed:
            durable.sync_folder(self.folder)


def pruned(paths, max_to_keep, every=None):
    """Which of `paths` (checkpoint prefixes, newest first) to delete: all but the newest
    `max_to_keep`, and the newest `max_to_keep` on the schedule (steps that are multiples of
    `every`; every step when `every` is None).

    Checkpoints off the schedule (written on Ctrl-C, at a --minutes limit, at the last step)
    never push the scheduled ones (those `--checkpoint STEP` names) out of the kept set, however
    often a run is stopped and resumed."""
    scheduled = [path for path in paths if every is None or step_of(path) % every == 0]
    kept = set(paths[:max_to_keep]) | set(scheduled[:max_to_keep])
    return [path for path in paths if path not in kept]


def pick(folder, choice):
    """The checkpoint `--checkpoint` names in run folder `folder`: None for the newest, a step
    number, or a path (with or without its `.index`). Raises UsageError naming the steps kept."""
    if not choice:
        return None
    if choice.isdigit():
        found = [path for path in listed(folder) if step_of(path) == int(choice)]
    else:
        prefix = checkpoint_files.named(choice)
        found = [prefix] if prefix else []
    if found:
        return found[0]
    steps = ", ".join(str(step_of(path)) for path in reversed(listed(folder)))
    raise UsageError(f"no checkpoint {choice} in {words.folder(folder)}: pass --checkpoint with "
                     f"one of its steps ({steps})" if steps
                     else f"{words.folder(folder)} holds no checkpoint")
