"""The exceptions that reach the user as one line, the checks that raise them, and OSErrors
put into words."""

import errno


class UsageError(Exception):
    """A problem the user can fix (a flag, a missing folder, no checkpoint).

    The message says what is wrong and what to do; `main.py` prints it on one line and exits 2.
    """


class TrainingError(Exception):
    """A command cannot go on (a loss became NaN, a checkpoint cannot be written or read).

    The message says what survives; `main.py` prints it on one line and exits 1.
    """


def require(condition, message):
    """Raise UsageError(message) unless `condition` holds."""
    if not condition:
        raise UsageError(message)


def require_positive(values, *names):
    """Raise UsageError naming the first flag among `names` whose value is not above zero."""
    for name in names:
        value = values[name]
        require(value is not None and value > 0,
                f"--{name} must be a positive number, not {value}")


# What to do about the OSErrors a user can do something about, by errno.
_OS_ADVICE = {
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some space (the disk quota is used up)",
    errno.EFBIG: "the file is larger than this system allows: free space or lift the limit",
    errno.EROFS: "that file system is read-only: point the command at a writable folder",
    errno.EACCES: "check the permissions, or point the command at another folder",
    errno.EPERM: "check the permissions, or point the command at another folder",
    errno.ENOENT: "check the path",
    errno.EIO: "the disk reported an error: check it",
}


def describe_os_error(error):
    """An OSError in one line: what failed, on which file, and what to do where that is known
    (`No space left on device: samples/x/grid.png: free some disk space`)."""
    text = error.strerror or str(error) or type(error).__name__
    if error.filename:
        text += f": {error.filename}"
    advice = _OS_ADVICE.get(error.errno)
    return f"{text}: {advice}" if advice else text
