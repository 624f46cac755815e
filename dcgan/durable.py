"""Writing files so that neither a kill nor a crash of the operating system leaves half of one,
and no write ever goes through a symbolic link.

A rename is atomic, but until the file's data and the folder entry are flushed to the disk an
OS crash (or power cut) can leave an empty or garbled file under the new name. So a file is
written under a temporary name, fsync'ed, renamed, and then its folder is fsync'ed. A folder of
several files (an export) is built whole beside the old one and swapped in the same way.

Every file is created new (O_EXCL, O_NOFOLLOW): a link planted where a file is to go is refused
with an error instead of being written through, so a write never lands outside its folder.
"""

import contextlib
import dataclasses
import errno
import os
import re
import shutil
import stat
import tempfile
import typing

from dcgan.errors import UsageError

# Create a file that must not exist yet, and never through a link (a planted one fails: EEXIST).
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _flush(path, flags=0):
    """fsync `path`, opened read-only with the extra open `flags`."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_file(path):
    """Flush one file's data to the disk (a link there is refused, not followed)."""
    _flush(path, os.O_NOFOLLOW)


def sync_folder(folder):
    """Flush a folder's entries (renames, new and deleted files) to the disk."""
    _flush(folder or ".")


def _named(error, path):
    """`error` naming `path`: a failed write() names no file, and a temporary name is ours,
    not the file the user knows."""
    error.filename, error.filename2 = os.fspath(path), None
    return error


def write_new(path, data):
    """Create `path`, which must not exist, holding `data` (bytes), fsync'ed; returns `path`.

    Raises OSError naming `path` (a full disk, a file-size limit, something already there,
    a link included) after removing what it created.
    """
    try:
        descriptor = os.open(path, NEW_FILE, 0o666)
    except OSError as error:
        raise _named(error, path) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(path)  # created by us just now (O_EXCL), so ours to remove
        if isinstance(error, OSError):
            _named(error, path)
        raise
    return path


def append_to(path):
    """A UTF-8 text handle appending to the file `path` (a log), created if missing. A link at
    `path` is replaced by a new file, never written through."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            descriptor = os.open(path, flags, 0o666)
        except OSError as error:
            if error.errno != errno.ELOOP:  # ELOOP: O_NOFOLLOW met a link
                raise
            os.unlink(path)  # the link, never what it points to
            descriptor = os.open(path, flags | os.O_EXCL, 0o666)
    except OSError as error:
        raise _named(error, path) from None
    return os.fdopen(descriptor, "a", encoding="utf-8")


def copy_new(source, target):
    """Copy the file `source` to the new file `target` (see write_new); returns `target`."""
    with open(source, "rb") as handle:
        data = handle.read()
    return write_new(target, data)


def write_atomically(path, data):
    """Write `data` (bytes) to `path` durably: the old file or the new one, never a mix.

    A link at `path` is replaced, not written through. Raises OSError naming `path` (disk full,
    read-only folder) after removing the temporary file.
    """
    with replacing(path) as new:
        new.file.write(data)
    return path


@dataclasses.dataclass
class Replacement:
    """What a `replacing` block writes: `file` (binary, read and write) holds the new version
    under the temporary name `temporary`; `path` is where it goes once complete, which the
    block may change (a name that depends on what was written)."""

    file: typing.BinaryIO
    temporary: str
    path: str


@contextlib.contextmanager
def replacing(path, temporary=None):
    """Write a new version of `path` whole or not at all, for writers that stream or need a
    file: yields a Replacement whose file is created new beside `path` (never through a link;
    by default `<path>.tmp<pid>`, a leftover of a killed process with our pid removed first).

    When the block ends, the file is fsync'ed, renamed over `path` (a link there is replaced,
    not written through) and the folder fsync'ed; when it raises, the file is removed. An
    OSError names `path`, not the temporary name.
    """
    path = os.fspath(path)
    ours = temporary is None  # named by our pid: no live process but us writes it
    temporary = f"{path}.tmp{os.getpid()}" if ours else os.fspath(temporary)
    new = None
    try:
        if ours:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)  # unlink never follows a link
        new = Replacement(_create(temporary), temporary, path)
        with new.file:
            yield new
            new.file.flush()
            os.fsync(new.file.fileno())
        os.replace(temporary, new.path)
    except BaseException as error:
        if new is not None:  # created by us (O_EXCL), so ours to remove
            with contextlib.suppress(OSError):
                os.remove(temporary)
        if isinstance(error, OSError):  # name the file the user asked for, not our temporary
            _named(error, path)
        raise
    sync_folder(os.path.dirname(os.path.abspath(new.path)))


def _create(path):
    """A read-write binary handle on the new file `path` (see NEW_FILE)."""
    descriptor = os.open(path, (NEW_FILE & ~os.O_WRONLY) | os.O_RDWR, 0o666)
    return os.fdopen(descriptor, "w+b")


def make_writable_folder(folder, flag, given):
    """Create `folder` if needed and try a file in it (left nowhere), so a command says it
    cannot write there before any work rather than hours later.

    Raises UsageError naming `flag` and the value `given` for it (the folder itself, or the one
    it lies in) when the folder cannot be made or written.
    """
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {given}: cannot write in {folder} ({error.strerror or error}): "
                         f"pick a writable folder with {flag}") from None


def remove(path):
    """Remove a file, a link (never what it points to) or a whole folder; absent is fine."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)  # removes links inside, never follows them
    else:
        os.remove(path)


def sync_tree(folder):
    """Flush every file and folder under `folder` (written by others, such as TensorFlow's
    SavedModel writer, without fsync) before it is swapped in."""
    for parent, _, files in os.walk(folder):  # os.walk does not enter linked folders
        for name in files:
            path = os.path.join(parent, name)
            if os.path.isfile(path) and not os.path.islink(path):
                sync_file(path)
        sync_folder(parent)


def _aside(target, kind, pid=None):
    """The hidden sibling of `target` where a swap builds (`new`) or parks (`old`) a folder:
    `.<name>.<kind>-<pid>`, hidden so nothing that lists the parent's folders picks it up."""
    parent, name = os.path.split(os.path.normpath(target))
    return os.path.join(parent, f".{name}.{kind}-{os.getpid() if pid is None else pid}")


def process_alive(pid):
    """Whether a live process has this pid (the writer of a temporary file or folder)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _running(pid):
    """Whether another live process has this pid (its swap may still be under way)."""
    return pid != os.getpid() and process_alive(pid)


def remove_leftovers(target):
    """Clear what a swap into `target` killed part-way left behind: building folders are
    removed, and a parked old folder whose replacement never arrived is put back."""
    parent, name = os.path.split(os.path.normpath(target))
    pattern = re.compile(rf"\.{re.escape(name)}\.(new|old)-(\d+)")
    for entry in sorted(os.listdir(parent or "."), reverse=True):  # "old" before "new"
        match = pattern.fullmatch(entry)
        if match is None or _running(int(match[2])):
            continue
        path = os.path.join(parent, entry)
        if match[1] == "old" and not os.path.lexists(target):
            os.rename(path, target)  # killed between the swap's two renames
        else:
            remove(path)


def fresh_folder(target):
    """A new empty folder beside `target` in which to build its replacement (see swap_in).

    Leftovers of an interrupted swap are cleared first; the folder is made with mkdir, so it
    never is one that was already there (a planted link or folder fails with EEXIST).
    """
    remove_leftovers(target)
    fresh = _aside(target, "new")
    os.mkdir(fresh)
    return fresh


def swap_in(fresh, target):
    """Put the complete folder `fresh` (from fresh_folder) at `target`, replacing what was
    there (a folder, or a link: the link goes, never what it points to).

    The old folder is parked beside, the new one renamed into place, the parent fsync'ed, and
    only then is the old one removed: a failure or a kill at any point leaves one whole folder.
    """
    parent = os.path.dirname(os.path.normpath(target))
    sync_tree(fresh)
    old = _aside(target, "old")
    had_old = os.path.lexists(target)
    if had_old:
        os.rename(target, old)
    try:
        os.rename(fresh, target)
    except OSError:
        if had_old:
            os.rename(old, target)
        raise
    sync_folder(parent)
    if had_old:
        remove(old)


def overlap(first, second):
    """Whether one path is, or lies inside, the other (links resolved): an output there would
    be read back as input, or an input replaced by output."""
    first, second = os.path.realpath(first), os.path.realpath(second)
    return os.path.commonpath([first, second]) in (first, second)
