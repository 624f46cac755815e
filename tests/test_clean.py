"""Cleaning: planted exact and near duplicates, small and broken files, originals untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, copy_photos, photo
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
    return subprocess.run([sys.executable, "-m", "dcgan.prep.clean", *args], check=False, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


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
