"""What the prep tools share on their command line: one-line usage errors, an early write check."""

from __future__ import annotations

import argparse
import os

from dcgan import durable


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: what is wrong and where to look.

    It still exits with status 2, as argparse does, but without the usage block that buries
    the message.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def unwritable(folder: str | os.PathLike, flag: str) -> str | None:
    """Create `folder` if needed and try a file in it: None when it can be written, else a
    one-line error naming `flag`, so a tool says so before any work instead of a traceback
    half-way."""
    try:
        durable.make_writable_folder(folder)
    except OSError as exc:
        return f"error: cannot write in {folder} ({exc.strerror or exc}): pick another {flag}"
    return None
