"""Cut anime faces out of illustrations with nagadomi's LBP cascade.

    dcgan-faces --input raw/ --dataset anime

finds faces in every picture under ``raw/``, widens each detector box by ``--margin`` of its
side on every side, makes it square, keeps it inside the picture, resizes it to ``--size`` and
writes ``data/anime/<source-name>-<hash>-<i>.jpg`` (the hash of the picture's path keeps every
name unique). A rerun skips pictures already done (recorded in
``data/anime/.faces_manifest.tsv``).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import re
import sys
import time
import unicodedata
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dcgan import durable, pictures
from dcgan.prep import cascade, fetch, tool_cli

MANIFEST = ".faces_manifest.tsv"
HASH_CHARS = 12  # of the source path's sha1 in each output name: 48 bits
# A manifest key of an older version: a source path (with its extension), not an output name.
LEGACY_KEY = re.compile(r"\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class Settings:
    """Detection and cropping parameters; a change invalidates earlier results on rerun."""

    margin: float = 0.1
    size: int = 96
    min_size: int = 48
    scale_factor: float = 1.1
    min_neighbors: int = 5

    def signature(self) -> str:
        """A compact string that identifies these settings in the manifest."""
        return ",".join(f"{k}={v}" for k, v in asdict(self).items())


def detect_faces(classifier, rgb: np.ndarray, settings: Settings = Settings()) -> list[tuple]:
    """Return the detector's face boxes ``(x, y, w, h)`` in `rgb`, largest first."""
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    boxes = classifier.detectMultiScale(
        gray,
        scaleFactor=settings.scale_factor,
        minNeighbors=settings.min_neighbors,
        minSize=(settings.min_size, settings.min_size),
    )
    boxes = [tuple(int(v) for v in box) for box in boxes]
    return sorted(boxes, key=lambda b: (-b[2] * b[3], b[1], b[0]))


def square_box(box: tuple, margin: float, width: int, height: int) -> tuple[int, int, int]:
    """Widen `box` by `margin` x its side on every side, square it and keep it in the picture.

    Returns ``(left, top, side)``. A square that sticks out is shifted back inside rather than
    padded, so crops hold only real pixels; it shrinks only when the picture is narrower.
    """
    x, y, w, h = box
    side = round(max(w, h) * (1 + 2 * margin))
    side = max(1, min(side, width, height))
    cx, cy = x + w / 2, y + h / 2
    left = round(min(max(cx - side / 2, 0), width - side))
    top = round(min(max(cy - side / 2, 0), height - side))
    return left, top, side


def crop_faces(rgb: np.ndarray, boxes: list[tuple], settings: Settings) -> list[Image.Image]:
    """Square crops of `boxes` from `rgb`, resized to ``settings.size``."""
    image = Image.fromarray(rgb)
    height, width = rgb.shape[:2]
    crops = []
    for box in boxes:
        left, top, side = square_box(box, settings.margin, width, height)
        crop = image.crop((left, top, left + side, top + side))
        crops.append(crop.resize((settings.size, settings.size), Image.Resampling.LANCZOS))
    return crops


def draw_boxes(rgb: np.ndarray, boxes: list[tuple], margin: float) -> Image.Image:
    """The picture with detector boxes (red) and the widened crop squares (green)."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    height, width = rgb.shape[:2]
    line = max(2, min(width, height) // 200)
    for box in boxes:
        x, y, w, h = box
        left, top, side = square_box(box, margin, width, height)
        draw.rectangle((left, top, left + side - 1, top + side - 1), outline=(0, 200, 0),
                       width=line)
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=(230, 0, 0), width=line)
    return image


def output_name(path: Path, root: Path) -> str:
    """The stem of the crops of picture `path` (``<stem>-<i>.jpg``): a readable, file-name-safe
    form of its path relative to `root`, then a hash of that path's bytes.

    The hash keeps names unique where the readable part is not (``my pic.png`` and
    ``my_pic.png`` both read ``my_pic``, ``a.png`` and ``a.jpg`` both ``a``, a Shift-JIS name
    loses its bytes that are not UTF-8), and depends on this picture alone, so a name never
    changes when other pictures come or go. It hashes the name's own bytes, whatever their
    encoding.
    """
    rel = path.relative_to(root) if path != root else Path(path.name)
    readable = str(rel.with_suffix("")).replace(os.sep, "_").replace(".", "_")
    readable = fetch.sanitize_name(readable, default="img", max_bytes=60)
    digest = hashlib.sha1(os.fsencode(rel)).hexdigest()[:HASH_CHARS]
    return f"{readable}-{digest}"


def output_names(paths: list[Path], root: Path) -> dict[Path, str]:
    """`output_name` of each picture; raises ValueError should two ever share a name."""
    names = {p: output_name(p, root) for p in paths}
    if len(set(names.values())) != len(names):  # 48-bit hashes: never seen, but never silent
        raise ValueError("two pictures hash to the same output name; rename one of them")
    return names


def _legacy_names(rel: str) -> tuple[str, str]:
    """The two names the crops of `rel` could have had before names carried a hash (folded to
    ASCII, as those versions did)."""
    def plain(text: str) -> str:
        text = text.replace(os.sep, "_").replace(".", "_")
        text = unicodedata.normalize("NFKC", urllib.parse.unquote(text))
        return fetch.sanitize_name(re.sub(r"[^\w.\-+]", "_", text, flags=re.ASCII), "img")

    return plain(str(Path(rel).with_suffix(""))), plain(rel)


def remove_legacy_crops(rows: dict, out_dir: Path) -> None:
    """Delete crops written under the names of older versions (``<picture>-<i>.jpg``), whose
    manifest rows are keyed by the source path: their pictures are cut again under the new
    names, and the old crops would otherwise sit beside them as duplicates."""
    for key, (_, _, count, _) in rows.items():
        if LEGACY_KEY.search(key):
            for stem in _legacy_names(key):
                for i in range(count):
                    (out_dir / f"{stem}-{i}.jpg").unlink(missing_ok=True)


def read_manifest(path: Path) -> dict[str, tuple[str, str, int, str]]:
    """Rows of the manifest by output name: (file version, settings signature, faces written,
    status). Lines that do not parse (a manifest of an older version, a torn write) are ignored,
    so their pictures are simply done again."""
    rows = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) == 5 and parts[3].isdigit():
                rows[parts[0]] = (parts[1], parts[2], int(parts[3]), parts[4])
    return rows


_WORKER: dict = {}


def _init_worker(cascade_path: str, settings: Settings, out_dir: str, draw_dir: str | None):
    import cv2

    # One OpenCV thread per process: the pool already spreads work across the cores.
    cv2.setNumThreads(1)
    _WORKER.update(classifier=cascade.load_cascade(cascade_path), settings=settings,
                   out_dir=Path(out_dir), draw_dir=Path(draw_dir) if draw_dir else None)


def _process(task: tuple[str, str]) -> tuple[str, int, str]:
    """Detect and write the faces of one picture; returns (path, faces written, status)."""
    path, name = task
    settings: Settings = _WORKER["settings"]
    try:
        rgb = pictures.load_rgb(path)
    except pictures.DECODE_ERRORS as exc:
        reason = "unreadable" if pictures.cannot_be_read(exc) else "does not decode"
        return path, 0, f"{reason} ({type(exc).__name__})"
    if min(rgb.shape[:2]) < settings.min_size:
        return path, 0, "smaller than --min_size"
    boxes = detect_faces(_WORKER["classifier"], rgb, settings)
    out_dir: Path = _WORKER["out_dir"]
    for i, crop in enumerate(crop_faces(rgb, boxes, settings)):
        _write_jpeg(out_dir / f"{name}-{i}.jpg", crop, quality=95)
    if _WORKER["draw_dir"] is not None:
        _write_jpeg(_WORKER["draw_dir"] / f"{name}.jpg",
                    draw_boxes(rgb, boxes, settings.margin), quality=90)
    return path, len(boxes), "ok" if boxes else "no face found"


def _write_jpeg(path: Path, image: Image.Image, quality: int) -> None:
    """Encode `image` in memory and put it at `path` whole, never through a link planted there
    (durable.write_atomically)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    durable.write_atomically(str(path), buffer.getvalue())


def _parse_args(argv):
    parser = tool_cli.CliParser(
        prog="dcgan-faces",
        description="Detect anime faces in pictures and write square crops to data/<dataset>/.",
    )
    parser.add_argument("--input", required=True, type=Path,
                        help="a folder of pictures (searched recursively) or one picture")
    parser.add_argument("--dataset", default="anime", help="output folder name under --data_dir")
    parser.add_argument("--data_dir", type=Path, default=Path("data"), help="default: data")
    parser.add_argument("--margin", type=float, default=Settings.margin,
                        help="widen each face box by this fraction of its side on every side "
                             "(default 0.1; 0 keeps the detector's tight box)")
    parser.add_argument("--size", type=int, default=Settings.size, help="output side (96)")
    parser.add_argument("--min_size", type=int, default=Settings.min_size,
                        help="smallest face box in source pixels (48)")
    parser.add_argument("--scale_factor", type=float, default=Settings.scale_factor,
                        help="detector pyramid step (1.1)")
    parser.add_argument("--min_neighbors", type=int, default=Settings.min_neighbors,
                        help="detector strictness (5)")
    parser.add_argument("--cascade", type=Path, default=None,
                        help="lbpcascade_animeface.xml; default: downloaded to "
                             "<data_dir>/cascade/")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    parser.add_argument("--draw", type=Path, default=None,
                        help="also write each picture with its boxes drawn into this folder")
    parser.add_argument("--force", action="store_true", help="redo pictures already done")
    args = parser.parse_args(argv)
    if not args.input.exists():
        parser.error(f"--input {args.input} does not exist; give a folder of pictures")
    if not 0 <= args.margin <= 2:
        parser.error(f"--margin {args.margin} is outside 0..2; try 0.1")
    if args.size < 8 or args.min_size < 8:
        parser.error("--size and --min_size must be at least 8 pixels; try 96 and 48")
    if args.scale_factor <= 1 or args.min_neighbors < 0 or args.jobs < 1:
        parser.error("need --scale_factor > 1, --min_neighbors >= 0 and --jobs >= 1")
    if fetch.sanitize_name(args.dataset) != args.dataset:
        parser.error(f"--dataset {args.dataset!r} must be a plain folder name such as anime")
    parser.require_apart(args.input, "--input", args.data_dir / args.dataset,
                         "--data_dir/--dataset")
    if args.draw is not None:
        parser.require_apart(args.input, "--input", args.draw, "--draw")
        # Drawn pictures inside the crops would be trained on as faces.
        parser.require_apart(args.data_dir / args.dataset, "--data_dir/--dataset", args.draw,
                             "--draw")
    return args


def _plan(sources, names, out_dir, done, signature, force=False):
    """Which pictures to (re)do (all of them with `force`): returns (tasks, versions by path,
    skip counts). The crops a picture was given before are removed first."""
    tasks, versions, skipped = [], {}, Counter()
    for picture in sources:
        name = names[picture]
        try:
            versions[str(picture)] = pictures.file_version(picture)
        except OSError:  # gone since the listing, or a folder we may not enter
            skipped["unreadable"] += 1
            continue
        row = done.get(name)
        if row and not force and row[0] == versions[str(picture)] and row[1] == signature:
            skipped["already done"] += 1
            continue
        for i in range(row[2] if row else 0):
            (out_dir / f"{name}-{i}.jpg").unlink(missing_ok=True)
        tasks.append((str(picture), name))
    return tasks, versions, skipped


def _results(tasks, jobs, init):
    """(path, faces, status) of each task, from a pool of `jobs` processes (or this one)."""
    if jobs == 1:
        _init_worker(*init)
        yield from map(_process, tasks)
        return
    pool = multiprocessing.get_context("spawn").Pool(jobs, _init_worker, init)
    try:
        yield from pool.imap_unordered(_process, tasks)
    finally:
        pool.terminate()


def _run(tasks, versions, manifest_path, signature, jobs, init, skipped):
    """Do the tasks, recording each outcome in the manifest as it comes (an interrupted run
    resumes there); returns (pictures read, faces written). A picture that could not be read
    (permissions, I/O) is not recorded, so the next run tries it again."""
    from tqdm import tqdm

    read = faces = 0
    name_of = dict(tasks)
    with durable.append_to(manifest_path) as manifest:
        for path, count, status in tqdm(_results(tasks, jobs, init), total=len(tasks),
                                        unit="pic", desc="faces", disable=None):
            reason = status.split(" (")[0]
            if reason != "unreadable":
                manifest.write(f"{name_of[path]}\t{versions[path]}\t{signature}\t{count}\t"
                               f"{status}\n")
                manifest.flush()
            if reason in ("unreadable", "does not decode"):
                skipped[reason] += 1
                continue
            read += 1
            faces += count
            if status != "ok":
                skipped[status] += 1
    return read, faces


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parse_args(argv)
    settings = Settings(args.margin, args.size, args.min_size, args.scale_factor,
                        args.min_neighbors)
    try:
        cascade_path = cascade.ensure_cascade(args.cascade, args.data_dir)
        cascade.load_cascade(cascade_path)  # fail here, once, rather than in every worker
    except cascade.CascadeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    out_dir = args.data_dir / args.dataset
    problem = tool_cli.unwritable(out_dir, "--data_dir", args.data_dir) or (
        args.draw and tool_cli.unwritable(args.draw, "--draw", args.draw))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    root = args.input if args.input.is_dir() else args.input.parent
    sources, left_out = pictures.find_pictures(args.input)
    names = output_names(sources, root)
    manifest_path = out_dir / MANIFEST
    signature = settings.signature()
    done = read_manifest(manifest_path)
    remove_legacy_crops(done, out_dir)
    tasks, versions, skipped = _plan(sources, names, out_dir, done, signature, args.force)
    skipped += left_out

    started = time.perf_counter()
    init = (str(cascade_path), settings, str(out_dir), str(args.draw) if args.draw else None)
    jobs = max(1, min(args.jobs, len(tasks)))
    read, faces = _run(tasks, versions, manifest_path, signature, jobs, init, skipped)
    elapsed = time.perf_counter() - started

    detail = tool_cli.counts_in_words(skipped) or "none"
    print(f"{len(sources) + left_out.total()} pictures found, {read} read, {faces} faces "
          f"written to {out_dir} in {elapsed:.1f} s; skipped: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
