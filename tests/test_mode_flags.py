"""A flag typed for a mode that does not read it is refused in one line (dcgan/mode_flags.py)."""

import pytest
from helpers import files_under, refusal

from dcgan import cli, mode_flags
from dcgan.errors import UsageError


def test_the_table_names_real_flags_and_modes():
    assert set(mode_flags.READERS) <= set(cli.FLAGS)
    assert set(mode_flags.MODES) == set(cli.MODES)
    for readers in mode_flags.READERS.values():
        assert readers and set(readers) <= set(mode_flags.MODES)


@pytest.mark.parametrize("name", sorted(mode_flags.READERS))
def test_each_flag_is_refused_by_exactly_the_modes_that_do_not_read_it(name):
    readers = mode_flags.READERS[name]
    for mode in mode_flags.MODES:
        if mode in readers:
            mode_flags.check(mode, {name, "dataset", "verbose"})
            continue
        with pytest.raises(UsageError) as refused:
            mode_flags.check(mode, {"dataset", name})
        message = str(refused.value)
        assert message.startswith(f"--{name} is for --{readers[0]}")
        assert message.endswith(f", not --{mode}: drop it") and "\n" not in message


def test_flags_typed_are_told_apart_from_values_and_flagfiles():
    known = {"train", "epoch", "crop", "dataset", "flagfile"}
    argv = ["main.py", "--train", "--epoch=3", "-dataset", "anime", "--nocrop", "--flagfile",
            "run.flags", "--", "--not_a_flag"]
    assert mode_flags.typed_flags(argv, known) == {"train", "epoch", "dataset", "crop",
                                                   "flagfile"}


@pytest.mark.parametrize("args, message", [
    (["--visualize", "--epoch", "5"], "--epoch is for --train, not --visualize: drop it"),
    (["--export", "--augment", "nonsense"], "--augment is for --train, not --export: drop it"),
    (["--visualize", "--steps", "5"], "--steps is for --train, not --visualize: drop it"),
    (["--evaluate", "--minutes", "1"], "--minutes is for --train, not --evaluate: drop it"),
    (["--evaluate", "--distribute", "mirrored"], "--distribute is for --train, not --evaluate"),
    (["--train", "--mode", "grid"], "--mode is for --visualize, not --train: drop it"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else "")
def test_a_flag_the_mode_ignores_is_refused_in_one_line(args, message, tmp_path, monkeypatch):
    # In this process (helpers.refusal); main.py's exit status 2 for such a row is
    # tests/test_cli.py's MAIN_PY_ROWS.
    monkeypatch.chdir(tmp_path)
    line = refusal(args)
    assert message in line and "\n" not in line, line
    assert files_under(tmp_path) == []


def test_a_flagfile_may_hold_every_modes_flags(tmp_path, monkeypatch):
    (tmp_path / "run.flags").write_text("--dataset=anime\n--epoch=5\n--image_size=96\n")
    monkeypatch.chdir(tmp_path)
    # Past the flag checks: what is missing now is the trained run itself.
    assert "no trained checkpoint of anime" in refusal(["--visualize", "--flagfile", "run.flags"])
