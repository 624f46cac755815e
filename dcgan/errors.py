"""The exceptions that reach the user as one line, and the checks that raise them."""


class UsageError(Exception):
    """A problem the user can fix (a flag, a missing folder, no checkpoint).

    The message says what is wrong and what to do; `main.py` prints it on one line and exits 2.
    """


class TrainingError(Exception):
    """Training cannot go on (a loss became NaN, a checkpoint cannot be written).

    The newest good checkpoint is kept; `main.py` prints the message on one line and exits 1.
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
