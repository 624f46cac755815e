"""Cleaning: planted exact and near duplicates, small and broken files, originals untouched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import SHARED, copy_photos, photo, photo_bytes, run_prep
from PIL import Image, ImageEnhance

from dcgan.prep import clean


@pytest.fixture
def planted(tmp_path):
    """60 real pictures plus planted copies, near copies, a tiny picture and a broken file."""
    folder = copy_photos(tmp_path / "pictures", 60)
    sources = sorted(folder.glob("*.jpg"))
    first, second, third = (Image.open(p).convert("RGB") for p in sources[:3])
    (folder / "z_copy.jpg").write_bytes(sources[0].read_bytes())
    first.save(folder / "z_reencoded.jpg", quality=60)
    second.resize((80, 80)).resize((96, 96)).save(folder / "z_resized.png")
    ImageEnhance.Brightness(third).enhance(0.9).save(folder / "z_darker.jpg", quality=90)
    first.resize((32, 32)).save(folder / "z_tiny.jpg")
    (folder / "z_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return folder


def test_planted_duplicates_found(planted):
    paths = [str(p) for p in sorted(planted.iterdir())]
    result = clean.clean(paths, min_size=48, threshold=6)
    dropped = {Path(p).name: why for p, why in result.dropped}
    assert set(dropped) == {"z_copy.jpg", "z_reencoded.jpg", "z_resized.png", "z_darker.jpg",
                            "z_tiny.jpg", "z_broken.jpg"}, dropped
    assert dropped["z_copy.jpg"].startswith("exact duplicate")
    assert dropped["z_reencoded.jpg"].startswith("near duplicate")
    assert dropped["z_broken.jpg"].startswith("does not decode")
    assert dropped["z_tiny.jpg"].startswith("too small")
    assert len(result.kept) == 60
    assert result.counts() == {"exact duplicate": 1, "near duplicate": 3, "too small": 1,
                               "does not decode": 1}


def test_phash_tells_different_pictures_apart():
    hashes = [clean.phash(photo(index)) for index in range(40)]
    assert len(set(hashes)) == 40


def _clean_cli(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return run_prep("clean", *args, timeout=timeout)


def test_cli_copies_kept_set_and_leaves_originals(planted, tmp_path):
    before = {p.name: p.read_bytes() for p in planted.iterdir()}
    out = tmp_path / "clean"
    proc = _clean_cli("--input", str(planted), "--output", str(out), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "66 pictures checked, 60 kept" in proc.stdout
    assert {p.name: p.read_bytes() for p in planted.iterdir()} == before
    assert len(list(out.glob("*.jpg"))) == 60
    assert len((out / clean.REPORT).read_text().splitlines()) == 6

    listed = tmp_path / "kept.txt"
    proc = _clean_cli("--input", str(planted), "--list", str(listed))
    assert proc.returncode == 0 and len(listed.read_text().splitlines()) == 60


def test_cli_refuses_output_inside_input(planted):
    proc = _clean_cli("--input", str(planted), "--output", str(planted / "clean"), timeout=30)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "overlaps" in proc.stderr


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_output_always_equals_the_report(planted, tmp_path):
    out = tmp_path / "clean"
    loose = _clean_cli("--input", str(planted), "--output", str(out), "--threshold", "-1",
                       "--jobs", "1")
    assert loose.returncode == 0 and "63 kept" in loose.stdout, loose.stdout + loose.stderr
    assert len(_tree(out)) == 63 + 1  # the near duplicates too, and the report
    # Replace a kept input by another picture (same name), then clean strictly.
    victim = sorted(planted.glob("*.jpg"))[5]
    replacement = photo_bytes(160)
    victim.write_bytes(replacement)
    strict = _clean_cli("--input", str(planted), "--output", str(out), "--jobs", "1")
    assert strict.returncode == 0 and "60 kept" in strict.stdout, strict.stdout + strict.stderr
    kept = {line.split("\t")[0] for line in (out / clean.REPORT).read_text().splitlines()}
    assert len(kept) == 6
    expected = {name: data for name, data in _tree(planted).items()
                if str(planted / name) not in kept}
    assert _tree(out) == {**expected, clean.REPORT: (out / clean.REPORT).read_bytes()}
    assert (out / victim.name).read_bytes() == replacement
    assert not list(tmp_path.glob(".clean*"))  # no building folder left beside it


def test_output_that_is_not_ours_is_refused(planted, tmp_path):
    mine = tmp_path / "my_pictures"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    proc = _clean_cli("--input", str(planted), "--output", str(mine), timeout=30)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "did not write" in proc.stderr and (mine / "holiday.jpg").read_bytes() == b"precious"


def test_odd_names_and_unreadable_files_are_reported_not_fatal(planted, tmp_path):
    from helpers import permissions_apply

    shift_jis = os.fsdecode("猫.jpg".encode("shift_jis"))
    for index, name in enumerate((shift_jis, ".hidden.jpg", "locked.jpg"), start=170):
        (planted / name).write_bytes(photo_bytes(index))
    os.chmod(planted / "locked.jpg", 0)
    listed = tmp_path / "kept.txt"
    proc = run_prep("clean", "--input", planted, "--list", listed, "--jobs", "1",
                    prefix=permissions_apply())
    assert proc.returncode == 0, proc.stderr
    assert "68 pictures checked, 61 kept" in proc.stdout, proc.stdout
    assert "1 unreadable" in proc.stdout and "left out 1 hidden files" in proc.stdout
    kept = listed.read_bytes().splitlines()
    assert os.fsencode(str(planted / shift_jis)) in kept  # the name's own bytes, usable as is
    out = tmp_path / "clean"
    copied = run_prep("clean", "--input", planted, "--output", out, "--jobs", "1",
                      prefix=permissions_apply())
    assert copied.returncode == 0, copied.stderr
    assert (out / shift_jis).read_bytes() == (planted / shift_jis).read_bytes()


@pytest.mark.parametrize("tool, args", [
    ("clean", ["--input", "{raw}", "--output", "{locked}/clean"]),
    ("clean", ["--input", "{raw}", "--list", "{locked}/kept.txt"]),
    ("faces", ["--input", "{raw}", "--data_dir", "{locked}", "--cascade", "{cascade}"]),
    ("download", ["urls", "{raw}/urls.txt", "--out", "{locked}/raw"]),
])
def test_prep_tools_that_cannot_write_say_so_in_one_line(planted, tmp_path, tool, args):
    from helpers import permissions_apply

    (planted / "urls.txt").write_text("http://127.0.0.1:9/x.jpg\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    cascade = SHARED / "data" / "cascade" / "lbpcascade_animeface.xml"
    argv = [a.format(raw=planted, locked=locked, cascade=cascade) for a in args]
    try:
        proc = run_prep(tool, *argv, prefix=permissions_apply())
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot write in" in proc.stderr, proc.stderr


def test_entries_that_are_not_regular_files_are_counted(planted, tmp_path):
    os.mkfifo(planted / "pipe.jpg")
    os.symlink("nowhere.jpg", planted / "dangling.png")
    (planted / "folder.jpg").mkdir()
    proc = _clean_cli("--input", str(planted), "--list", str(tmp_path / "kept.txt"), "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "left out 3 not regular files" in proc.stdout, proc.stdout
