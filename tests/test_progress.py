"""dcgan.progress: a redrawn bar on a terminal, whole lines anywhere else, one style for all."""

import contextlib
import io

import pytest

from dcgan import progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a console's stderr does."""

    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_redrawn_in_place():
    out = Terminal()
    with progress.bar(range(40), desc="decoding images", unit="img", file=out) as bar:
        for _ in bar:
            pass
    text = out.getvalue()
    assert "\r" in text and text.count("\n") == 1  # redrawn on one line, left when done
    assert "decoding images: 100%|" in text and "40/40" in text


def test_a_pipe_gets_a_line_every_five_percent_and_at_the_end():
    out = io.StringIO()
    with progress.bar(desc="evaluate", total=200, unit="img", file=out) as bar:
        bar.set_description("evaluate", refresh=False)  # as training renames its bar
        for _ in range(200):
            bar.set_postfix(d_loss="0.5", refresh=False)
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line.split()[1] for line in lines] == [f"{p}%" for p in range(0, 101, 5)]
    assert lines[0].startswith("evaluate:   0% 0/200 [")
    assert lines[-1].startswith("evaluate: 100% 200/200 [") and lines[-1].endswith(
        "img/s, d_loss=0.5]")


def test_a_bar_closed_early_ends_with_its_last_count():
    out = io.StringIO()
    with progress.bar(desc="train", total=1000, unit="step", initial=500, file=out) as bar:
        bar.update(7)  # 50.7%: no line due yet
    first, last = out.getvalue().splitlines()
    assert first.startswith("train:  50% 500/1000 [") and last.startswith("train:  51% 507/1000 [")


def test_without_a_total_lines_come_by_time(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    with progress.bar(desc="train", unit="step", file=out) as bar:
        for _ in range(3):  # three steps within a minute: no line
            bar.update(1)
        clock[0] += progress.SECONDS
        bar.update(1)  # a minute on: a line
    counts = [line.split()[1] for line in out.getvalue().splitlines()]
    assert counts == ["0step", "4step"]  # the start, and the minute's line (also the last)


def test_disabled_prints_nothing():
    out = io.StringIO()
    with progress.bar(range(5), desc="x", enabled=False, file=out) as bar:
        assert list(bar) == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""


@pytest.mark.parametrize("failing", [False, True])
def test_stages_name_each_stage_and_end_done_unless_it_failed(failing):
    out = io.StringIO()
    expected = pytest.raises(OSError) if failing else contextlib.nullcontext()
    with expected, progress.Stages("export", ["graph", "ONNX"], file=out) as stage:
        stage("ONNX")  # "graph", the first, starts with the bar
        if failing:
            raise OSError("disk full")
    ends = [line.rsplit(", ", 1)[-1] for line in out.getvalue().splitlines()]
    assert ends == (["graph]", "ONNX]"] if failing else ["graph]", "ONNX]", "done]"])
