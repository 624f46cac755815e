"""Session runs made once for all the suite's worker processes, not once per worker.

Under pytest-xdist each worker is a process with its own session, so a session-scoped fixture
would train its run once in every worker that needs it. `shared_training` trains it once in a
folder beside the workers' own temporary folders (xdist's session-wide `pytest-N` folder): the
first worker to ask trains under a file lock, the others wait on the lock and reuse what it made.
Without workers (`-n 0`, `-p no:xdist`) the folder is the session's own temporary folder.

Tests only read a shared run; a test that writes into one works in a copy (conftest's
`own_trained_run`), since other processes read the same files at the same time.
"""

import fcntl
import json
import os
import shutil
import subprocess

from helpers import copy_photos


def _shared_root(tmp_path_factory):
    """The folder every process of this test session sees: the parent of a worker's own
    temporary folder under xdist (PYTEST_XDIST_WORKER is set in workers), else this session's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_training(tmp_path_factory, name, args, train, photos=0):
    """A working folder `name` in which `train(args, folder)` (helpers.main_in_process or
    run_main) trained once for the whole session, after `photos` package photos were copied
    to its data/anime. Returns (folder, the training's CompletedProcess), the same in every
    worker; the training must succeed (status 0).

    Kept beside the folder: `name.lock`, held while training, and `name.json`, the training's
    output, written last, so that a folder without it (a worker stopped part-way) is trained
    again from scratch.
    """
    root = _shared_root(tmp_path_factory)
    folder, record = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            if photos:
                copy_photos(folder / "data" / "anime", photos)
            result = train(args, folder)
            assert result.returncode == 0, result.stderr
            record.write_text(json.dumps({"args": args, "stdout": result.stdout,
                                          "stderr": result.stderr}))
    saved = json.loads(record.read_text())
    return folder, subprocess.CompletedProcess(saved["args"], 0, saved["stdout"],
                                               saved["stderr"])
