"""Writing files so that neither a kill nor a crash of the operating system leaves half of one.

A rename is atomic, but until the file's data and the folder entry are flushed to the disk an
OS crash (or power cut) can leave an empty or garbled file under the new name. So a file is
written under a temporary name, fsync'ed, renamed, and then its folder is fsync'ed.
"""

import contextlib
import os
import tempfile


def sync_file(path):
    """Flush one file's data to the disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def sync_folder(folder):
    """Flush a folder's entries (renames, new and deleted files) to the disk."""
    descriptor = os.open(folder or ".", os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path, data):
    """Write `data` (bytes) to `path` durably: the old file or the new one, never a mix.

    Raises OSError (disk full, read-only folder) after removing the temporary file.
    """
    folder = os.path.dirname(os.path.abspath(path))
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError):  # name the file the user asked for, not our temporary
            error.filename, error.filename2 = path, None
        raise
    sync_folder(folder)
    return path


def make_writable_folder(folder):
    """Create `folder` if needed and try a file in it (left nowhere); raises OSError when it
    cannot be written, so a command can say so before any work rather than hours later."""
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
