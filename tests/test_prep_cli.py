"""The prep tools' shared command line (dcgan/prep/tool_cli.py): a tool's output never lies in
its input, in one rule for every tool, refused in one line before any work."""

from __future__ import annotations

import pytest
from helpers import copy_photos

from dcgan import durable
from dcgan.prep import clean, faces


@pytest.mark.parametrize("tool, args", [
    (clean, ["--input", "{raw}", "--output", "{raw}/clean"]),  # output inside the input
    (clean, ["--input", "{raw}", "--output", "{raw}/.."]),  # input inside the output
    (faces, ["--input", "{raw}", "--data_dir", "{raw}"]),  # crops inside the input
    (faces, ["--input", "{raw}", "--data_dir", "{raw}/..", "--dataset", "raw"]),  # the same
    (faces, ["--input", "{raw}/0.jpg", "--data_dir", "{top}", "--dataset", "raw"]),  # one picture
    (faces, ["--input", "{raw}", "--data_dir", "{top}/data", "--draw", "{raw}/boxes"]),
    (faces, ["--input", "{raw}", "--data_dir", "{top}/data", "--draw", "{top}/data/anime/x"]),
])
def test_output_overlapping_input_is_refused_in_one_line(tmp_path, capsys, tool, args):
    raw = copy_photos(tmp_path / "raw", 2)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argv = [arg.format(raw=raw, top=tmp_path) for arg in args]
    with pytest.raises(SystemExit) as exited:
        tool.main(argv)
    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and " overlaps --" in message, message
    assert "pick a separate folder" in message
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no work


def test_overlap_resolves_links_and_dot_dot(tmp_path):
    (tmp_path / "raw" / "sub").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "raw")
    assert durable.overlap(tmp_path / "raw", tmp_path / "alias" / "sub")
    assert durable.overlap(tmp_path / "raw" / "sub" / "..", tmp_path / "raw")
    assert not durable.overlap(tmp_path / "raw", tmp_path / "raw_clean")
    assert not durable.overlap(tmp_path / "raw" / "sub", tmp_path / "raw" / "other")
