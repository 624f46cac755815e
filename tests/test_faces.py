"""Face detection and cropping on real pictures from ../shared."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from helpers import SHARED, run_prep
from PIL import Image

from dcgan import pictures
from dcgan.prep import cascade, faces

ILLUSTRATIONS = SHARED / "data" / "illustrations"
CASCADE = SHARED / "data" / "cascade" / "lbpcascade_animeface.xml"
FACES = SHARED / "data" / "anime_faces"
MISAKA = ILLUSTRATIONS / "jayleicn_anime_image_misaka_mikoto.png"
GROUP = ILLUSTRATIONS / "nagadomi_imas_result.png"
GRID = ILLUSTRATIONS / "hysts_tadne_input.jpg"

if not (CASCADE.is_file() and MISAKA.is_file()):
    pytest.skip(f"shared test data not found at {SHARED} (../shared beside the checkout)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def classifier():
    """The real LBP cascade from ../shared."""
    return cascade.load_cascade(CASCADE)


def test_one_face_on_misaka_at_the_right_place(classifier):
    rgb = pictures.load_rgb(MISAKA)
    assert rgb.shape == (809, 570, 3)
    boxes = faces.detect_faces(classifier, rgb)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    # Her face spans about x 270-500, y 100-330 in the 570x809 picture.
    assert 340 < x + w / 2 < 430 and 170 < y + h / 2 < 260 and 180 < w < 330


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (pictures.load_rgb(tmp_path / "clear.png") == 255).all()


def test_many_faces_on_group_picture(classifier):
    boxes = faces.detect_faces(classifier, pictures.load_rgb(GROUP))
    assert len(boxes) >= 15  # 17 with the defaults; the picture shows 17 characters
    assert all(40 <= w <= 80 for _, _, w, _ in boxes)


def test_faces_in_most_grid_tiles(classifier):
    rgb = pictures.load_rgb(GRID)
    tiles = [rgb[r:r + 512, c:c + 512] for r in range(0, 3072, 512) for c in range(0, 3072, 512)]
    found = [len(faces.detect_faces(classifier, tile)) > 0 for tile in tiles]
    assert len(tiles) == 36 and sum(found) >= 30, f"faces in {sum(found)} of 36 tiles"


def test_real_crops_padded_back_out(classifier):
    import cv2

    paths = sorted(FACES.glob("*.jpg"))[:150]
    settings = faces.Settings(min_size=24)
    hits = 0
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        padded = cv2.copyMakeBorder(rgb, 48, 48, 48, 48, cv2.BORDER_REPLICATE)
        hits += bool(faces.detect_faces(classifier, padded, settings))
    assert hits / len(paths) >= 0.9, f"{hits} of {len(paths)}"


@pytest.mark.parametrize(
    "box, size, expected",
    [
        ((100, 100, 50, 50), (400, 400), (90, 90, 70)),  # margin 0.2 -> 70 px, centred
        ((0, 0, 50, 50), (400, 400), (0, 0, 70)),  # shifted back inside, not padded
        ((350, 370, 50, 30), (400, 400), (330, 330, 70)),  # square from the longer side
        ((0, 0, 90, 90), (300, 100), (0, 0, 100)),  # shrinks to the picture's short side
    ],
)
def test_square_box_squares_and_clamps(box, size, expected):
    assert faces.square_box(box, 0.2, *size) == expected


def test_output_names_unique_safe_and_stable(tmp_path):
    shift_jis = tmp_path / os.fsdecode("猫.png".encode("shift_jis"))
    paths = [tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "sub" / "b c.jpg",
             tmp_path / "猫.png", tmp_path / "犬.png", tmp_path / "my pic.png",
             tmp_path / "my_pic.png", shift_jis]
    names = faces.output_names(paths, tmp_path)
    assert len(set(names.values())) == len(paths)
    assert all(re.fullmatch(r"[\w+-]+-[0-9a-f]{12}", name) for name in names.values())
    assert names[tmp_path / "sub" / "b c.jpg"].startswith("sub_b_c-")
    assert names[tmp_path / "猫.png"].startswith("猫-")  # readable in its own script
    # A picture's name depends on that picture alone, not on which others sit beside it.
    assert faces.output_names(paths[:1], tmp_path) == {paths[0]: names[paths[0]]}


def test_cli_crops_resumes_and_reports(tmp_path):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    (raw / "misaka.png").write_bytes(MISAKA.read_bytes())
    grid = Image.open(GRID)
    for i in range(3):
        grid.crop((512 * i, 0, 512 * i + 512, 512)).save(raw / "sub" / f"tile{i}.jpg")
    (raw / "broken.jpg").write_bytes(b"\xff\xd8 broken")
    Image.new("RGB", (30, 30), "white").save(raw / "tiny.png")

    def run(*extra: str) -> subprocess.CompletedProcess:
        return _faces_cli(raw, tmp_path / "data", "--dataset", "anime", *extra)

    first = run()
    assert first.returncode == 0, first.stderr
    out = tmp_path / "data" / "anime"
    crops = sorted(p.name for p in out.glob("*.jpg"))
    misaka = [name for name in crops if name.startswith("misaka-")]
    assert len(misaka) == 1 and misaka[0].endswith("-0.jpg")
    assert any(name.startswith("sub_tile") for name in crops)
    assert all(Image.open(out / name).size == (96, 96) for name in crops)
    summary = first.stdout.strip().splitlines()[-1]
    assert "6 pictures found, 5 read" in summary
    assert "1 does not decode" in summary and "1 smaller than --min_size" in summary

    again = run()
    assert "6 already done" in again.stdout and "0 faces written" in again.stdout

    wider = run("--margin", "0.3", "--size", "64")
    assert wider.returncode == 0 and "5 read" in wider.stdout
    assert Image.open(out / misaka[0]).size == (64, 64)


def _faces_cli(raw, data_dir, *extra, prefix=()):
    return run_prep("faces", "--input", raw, "--data_dir", data_dir, "--cascade", CASCADE,
                    "--jobs", "2", *extra, prefix=prefix, timeout=120)


def test_cli_names_every_face_apart_and_retries_what_it_could_not_read(tmp_path):
    from helpers import permissions_apply

    raw = tmp_path / "raw"
    raw.mkdir()
    names = ["猫.png", "犬.png", "my pic.png", "my_pic.png",
             os.fsdecode("猫.png".encode("shift_jis")), ".hidden.png", "locked.png"]
    for name in names:  # one face each: Misaka's
        shutil.copy(MISAKA, raw / name)
    os.chmod(raw / "locked.png", 0)
    out = tmp_path / "data" / "anime"
    first = _faces_cli(raw, tmp_path / "data", prefix=permissions_apply())
    assert first.returncode == 0, first.stderr
    summary = first.stdout.strip().splitlines()[-1]
    assert "7 pictures found, 5 read, 5 faces written" in summary, summary
    assert "1 unreadable" in summary and "1 hidden files (names starting with .)" in summary
    crops = sorted(out.glob("*.jpg"))
    assert len(crops) == 5 and all(Image.open(p).size == (96, 96) for p in crops)

    again = _faces_cli(raw, tmp_path / "data", prefix=permissions_apply())
    assert again.returncode == 0, again.stderr
    assert "5 already done" in again.stdout and "1 unreadable" in again.stdout

    os.chmod(raw / "locked.png", 0o644)  # readable now: done at last, not "already done"
    fixed = _faces_cli(raw, tmp_path / "data", prefix=permissions_apply())
    assert "1 read, 1 faces written" in fixed.stdout and "5 already done" in fixed.stdout
    assert len(list(out.glob("*.jpg"))) == 6


def test_crops_named_by_an_older_version_are_replaced_not_duplicated(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "data" / "anime"
    raw.mkdir()
    out.mkdir(parents=True)
    shutil.copy(MISAKA, raw / "misaka.png")
    Image.new("RGB", (96, 96)).save(out / "misaka-0.jpg")  # what the old naming wrote
    (out / faces.MANIFEST).write_text("misaka.png\t1:2\tmargin=0.1\t1\tok\n")
    proc = _faces_cli(raw, tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    crops = sorted(p.name for p in out.glob("*.jpg"))
    assert len(crops) == 1 and crops[0].startswith("misaka-") and crops[0] != "misaka-0.jpg"


def test_cli_bad_argument_exits_2_with_one_line(tmp_path):
    proc = run_prep("faces", "--input", tmp_path, "--margin", "-1", timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--margin" in proc.stderr


def test_a_link_planted_where_faces_writes_is_replaced_not_written_through(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(MISAKA, raw / "misaka.png")
    precious = tmp_path / "precious.txt"
    precious.write_text("not yours to overwrite")
    name = faces.output_names([raw / "misaka.png"], raw)[raw / "misaka.png"]
    boxes, out = tmp_path / "boxes", tmp_path / "data" / "anime"
    boxes.mkdir()
    out.mkdir(parents=True)
    drawn, crop = boxes / f"{name}.jpg", out / f"{name}-0.jpg"
    manifest = out / faces.MANIFEST
    for planted in (drawn, crop, manifest):
        planted.symlink_to(precious)
    result = _faces_cli(raw, tmp_path / "data", "--draw", str(boxes))
    assert result.returncode == 0, result.stderr
    assert precious.read_text() == "not yours to overwrite"
    assert not manifest.is_symlink() and faces.read_manifest(manifest)[name][2] == 1
    for written in (drawn, crop):
        assert not written.is_symlink() and Image.open(written).format == "JPEG"
