"""The one exception type that reaches the user as a single line and exit status 2."""


class UsageError(Exception):
    """A problem the user can fix (a flag, a missing folder, no checkpoint).

    The message says what is wrong and what to do; `main.py` prints it on one line and exits 2.
    """


class TrainingError(Exception):
    """Training cannot go on (a loss became NaN, a checkpoint cannot be written).

    The newest good checkpoint is kept; `main.py` prints the message on one line and exits 1.
    """
