"""What the prep tools share on their command line: one-line usage errors, the rule that a
tool's output lies apart from its input, an early write check, counts in their last line."""

from __future__ import annotations

import argparse
import os

from dcgan import durable
from dcgan.errors import UsageError


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: what is wrong and where to look.

    It still exits with status 2, as argparse does, but without the usage block that buries
    the message.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def require_apart(self, source, source_flag, output, output_flag):
        """Exit with a usage error when the folders (or files) `output` and `source` overlap.

        An output inside its input would be read as input on the next run (a tool cutting
        faces from its own crops), an input inside its output replaced or mixed with results.
        """
        if durable.overlap(source, output):
            self.error(f"{output_flag} {output} overlaps {source_flag} {source}: pick a "
                       "separate folder, or a run would read its own output or replace its input")


def unwritable(folder: str | os.PathLike, flag: str, given: object) -> str | None:
    """Create `folder` if needed and try a file in it (durable.make_writable_folder): None when
    it can be written, else the one-line error naming `flag` and its value `given`, so a tool
    says so before any work instead of a traceback half-way."""
    try:
        durable.make_writable_folder(folder, flag, given)
    except UsageError as error:
        return f"error: {error}"
    return None


def counts_in_words(counts, separator=", ", prefix=""):
    """`counts` (reason -> how many) as `<prefix><n> <reason>` items joined by `separator`, in
    the order of the reasons, for a tool's summary line; '' when there are none."""
    return separator.join(f"{prefix}{n} {why}" for why, n in sorted(counts.items()))
