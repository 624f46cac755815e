"""Progress for every long step, in one style: a tqdm bar on a terminal, plain lines elsewhere.

A bar redraws itself with carriage returns, which in a pipe, a log file or CI becomes one line
that grows forever. So when the stream is not a terminal, the same counts and rates are printed
as whole lines: at the start, every PERCENT of the total (or every SECONDS, whichever comes
first, and only by time when the total is unknown) and at the end.
"""

import sys
import time

from tqdm import tqdm

PERCENT = 5
SECONDS = 60
# tqdm's default text without the bar itself, which means nothing on a line of its own.
PLAIN_FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, " \
               "{rate_fmt}{postfix}]"


def bar(iterable=None, *, desc, total=None, unit="it", enabled=True, file=None, **options):
    """A tqdm progress bar over `iterable` (or updated by hand up to `total`) on `file`
    (default stderr): a redrawn bar on a terminal, PlainLines elsewhere, nothing when not
    `enabled`. Other `options` are tqdm's (initial, leave, postfix...)."""
    stream = sys.stderr if file is None else file
    if not enabled:
        return tqdm(iterable, total=total, disable=True)
    if _is_terminal(stream):
        return tqdm(iterable, desc=desc, total=total, unit=unit, file=stream,
                    dynamic_ncols=True, **options)
    return PlainLines(iterable, desc=desc, total=total, unit=unit, file=stream, **options)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _Discard:
    """Where tqdm's own carriage returns and newlines go: PlainLines writes whole lines."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


class PlainLines(tqdm):
    """tqdm's counting, rates and text, written as whole lines (see the module docstring)."""

    def __init__(self, iterable=None, *, file, percent=PERCENT, seconds=SECONDS, **options):
        self._out, self._percent, self._seconds = file, percent, seconds
        self._shown_n = self._shown_at = None
        options.update(leave=True, mininterval=0, miniters=1)  # PlainLines decides when
        super().__init__(iterable, file=_Discard(), **options)

    def display(self, msg=None, pos=None):
        """Write the current counts as one line when one is due (tqdm calls this on each
        update; on close, with `disable` already set)."""
        if msg == "":  # tqdm clearing its bar: a line once written stays
            return True
        if self._due():
            self._out.write(self._line() + "\n")
            self._out.flush()
            self._shown_n, self._shown_at = self.n, time.monotonic()
        return True

    def _line(self):
        meter = dict(self.format_dict, bar_format=PLAIN_FORMAT if self.total else None)
        # set_description stores "desc: ", which PLAIN_FORMAT's "{desc}: " would double
        meter["prefix"] = (meter["prefix"] or "").removesuffix(": ")
        return self.format_meter(**meter)

    def _due(self):
        if self._shown_n is None:
            return True
        if self.disable:  # closing: the last counts, unless just written
            return self.n != self._shown_n
        if self.total and self.n * 100 // (self.total * self._percent) > \
                self._shown_n * 100 // (self.total * self._percent):
            return True
        return time.monotonic() - self._shown_at >= self._seconds


class Stages:
    """One bar over the named stages of a step that has no finer count (an export, the
    metrics of an evaluation). The first of `names` starts with the bar; `stage(name)` marks
    the one before done and names the next; leaving the `with` block without an error marks
    the last done. `options` as for `bar`."""

    def __init__(self, desc, names, **options):
        self._bar = bar(desc=desc, total=len(names), unit="stage", postfix=names[0], **options)

    def __call__(self, name):
        """Start the stage `name`, the one before being done."""
        self._bar.set_postfix_str(name, refresh=False)
        self._bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            self._bar.set_postfix_str("done", refresh=False)
            self._bar.update(1)
        self._bar.close()
