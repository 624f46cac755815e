"""Which files in a run folder are this toolkit's checkpoints (no TensorFlow needed).

The checkpoint of step N is `DCGAN.model-N.index` plus its data shards
`DCGAN.model-N.data-0000i-of-0000k`. TensorFlow writes each of them under a temporary name
(`<file>.tempstate<digits>`) and renames it when complete, so a step whose index and every
shard are present is complete. The files themselves are the truth: the `checkpoint` index file
TensorFlow also writes is never read here, because an OS crash can leave it empty or garbled
and a kill can leave it one save behind.

Only names that parse exactly as ours are listed, and so only they are ever deleted: a user's
`DCGAN.model-4 (copy).index` or `notes.txt` in the run folder is left alone.
"""

import os
import re

PREFIX = "DCGAN.model"
_OURS = re.compile(r"DCGAN\.model-(\d+)\.(index|data-(\d{5})-of-(\d{5}))")
# TensorFlow's temporary names: a checkpoint file being written, and the index being rewritten.
_TEMPORARY = re.compile(r"DCGAN\.model-\d+\.(index|data-\d{5}-of-\d{5})\.tempstate\d+"
                        r"|checkpoint\.tmp[0-9a-f]+")


def prefix_of(folder, step):
    """The path prefix of step `step`'s checkpoint in `folder`."""
    return os.path.join(folder, f"{PREFIX}-{step}")


def step_of(prefix):
    """The training step of a checkpoint path prefix (`.../DCGAN.model-N`)."""
    return int(re.fullmatch(rf"{re.escape(PREFIX)}-(\d+)", os.path.basename(prefix))[1])


def _names(folder):
    try:
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def files_by_step(folder):
    """{step: [file names]} of every checkpoint file of ours in `folder`, complete or not."""
    steps = {}
    for name in _names(folder):
        match = _OURS.fullmatch(name)
        if match:
            steps.setdefault(int(match[1]), []).append(name)
    return steps


def _is_complete(names):
    shards = {}
    for name in names:
        match = _OURS.fullmatch(name)
        if match[3] is not None:
            shards.setdefault(int(match[4]), set()).add(int(match[3]))
    has_index = any(name.endswith(".index") for name in names)
    # Every shard of a save present (a stray shard of another count does not spoil it).
    return has_index and any(found == set(range(count)) for count, found in shards.items())


def complete(folder):
    """Path prefixes of the complete checkpoints in `folder`, newest step first."""
    steps = files_by_step(folder)
    return [prefix_of(folder, step) for step in sorted(steps, reverse=True)
            if _is_complete(steps[step])]


def is_complete(prefix):
    """Whether the checkpoint at `prefix` has its index and every data shard on disk."""
    names = files_by_step(os.path.dirname(prefix)).get(step_of(prefix))
    return bool(names) and _is_complete(names)


def named(path):
    """The prefix of the complete checkpoint `path` names (with or without its `.index` or a
    data file's suffix), or None when it names none."""
    prefix = re.sub(r"\.(index|data-\d+-of-\d+)$", "", path)
    ours = re.fullmatch(rf"{re.escape(PREFIX)}-\d+", os.path.basename(prefix))
    return prefix if ours and is_complete(prefix) else None


def incomplete_files(folder):
    """Paths of our checkpoint files whose step is not complete (a shard or the index gone)."""
    return [os.path.join(folder, name) for names in files_by_step(folder).values()
            if not _is_complete(names) for name in names]


def files_of(prefix):
    """Paths of every file of ours that belongs to the checkpoint at `prefix`."""
    folder = os.path.dirname(prefix)
    return [os.path.join(folder, name)
            for name in files_by_step(folder).get(step_of(prefix), [])]


def temporary_files(folder):
    """Paths of the temporary files of saves that never finished."""
    return [os.path.join(folder, name) for name in _names(folder) if _TEMPORARY.fullmatch(name)]


def newest_time(folder):
    """Modification time of the newest complete checkpoint in `folder`, or None if none."""
    for prefix in complete(folder):
        try:
            return os.path.getmtime(prefix + ".index")
        except OSError:  # removed since it was listed (a trainer pruning): try the next one
            continue
    return None
