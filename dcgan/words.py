"""Words that recur in messages: counts that agree ("1 file", "2 files", so no line says
"1 steps"), folders named so a user can find them, the command the user typed, and the name a
mistyped one was meant to be."""

import difflib
import os

# How the user started dcgan, for the commands messages suggest: set once at start-up
# (`started_as`), from the program name absl parsed.
SCRIPT = "python main.py"  # how the checkout's entry point is started
_command = SCRIPT


def closest(name, names):
    """The one of `names` closest to `name` (what a typo of it was meant to be), if one is
    close and is not `name` itself; else None."""
    close = difflib.get_close_matches(name or "", [other for other in names if other != name],
                                      n=1)
    return close[0] if close else None


def counted(count, singular, plural=None):
    """`count` and the noun that agrees with it: counted(1, "step") is "1 step",
    counted(3, "step") "3 steps", counted(2, "copy", "copies") "2 copies"."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def folder(path):
    """Folder `path` as a message names it: `checkpoints/ (/home/u/proj/checkpoints)` when it is
    relative, since it then depends on where the command ran, and `/data/runs/` when not."""
    path = os.fspath(path)
    shown = os.path.join(path, "")
    return shown if os.path.isabs(path) else f"{shown} ({os.path.abspath(path)})"


def command_for(argv0):
    """How a program named `argv0` is started: `python main.py` for the script (whatever folder
    it was run from), the installed `dcgan` by its name."""
    name = os.path.basename(argv0)
    return SCRIPT if name.endswith(".py") else name


def started_as(argv0):
    """Record how the user started dcgan (`argv0`, the program name), for `command()`."""
    global _command
    _command = command_for(argv0)


def command():
    """The command the user typed to start dcgan (`python main.py` or `dcgan`), which the
    commands suggested in messages begin with."""
    return _command
