"""Cut anime faces out of illustrations with nagadomi's LBP cascade.

    dcgan-faces --input raw/ --dataset anime

finds faces in every picture under ``raw/``, widens each detector box by ``--margin`` of its
side on every side, makes it square, keeps it inside the picture, resizes it to ``--size`` and
writes ``data/anime/<source-name>-<i>.jpg``. A rerun skips pictures already done (recorded in
``data/anime/.faces_manifest.tsv``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dcgan import pictures
from dcgan.prep import cascade, fetch

MANIFEST = ".faces_manifest.tsv"


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


def list_pictures(source: Path) -> list[Path]:
    """All pictures under `source` (or `source` itself if it is a file), in a stable order."""
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if pictures.is_picture_name(p.name) and p.is_file())


def source_names(paths: list[Path], root: Path) -> dict[Path, str]:
    """A unique, file-name-safe stem for each picture, from its path relative to `root`."""
    def stem(path: Path, keep_ext: bool) -> str:
        rel = path.relative_to(root) if path != root else Path(path.name)
        text = str(rel if keep_ext else rel.with_suffix(""))
        return fetch.sanitize_name(text.replace(os.sep, "_").replace(".", "_"), default="img")

    plain = {p: stem(p, False) for p in paths}
    counts = Counter(plain.values())
    # Only colliding names (a.png beside a.jpg) carry their extension, so usual names stay short.
    return {p: (stem(p, True) if counts[plain[p]] > 1 else plain[p]) for p in paths}


def _file_key(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def read_manifest(path: Path) -> dict[str, tuple[str, str, int, str]]:
    """Rows of the manifest by source: (file key, settings signature, faces written, status)."""
    rows = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
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
        return path, 0, f"unreadable ({type(exc).__name__})"
    if min(rgb.shape[:2]) < settings.min_size:
        return path, 0, "smaller than --min_size"
    boxes = detect_faces(_WORKER["classifier"], rgb, settings)
    out_dir: Path = _WORKER["out_dir"]
    for i, crop in enumerate(crop_faces(rgb, boxes, settings)):
        target = out_dir / f"{name}-{i}.jpg"
        tmp = target.with_name("." + target.name + ".part")
        crop.save(tmp, format="JPEG", quality=95)
        os.replace(tmp, target)
    if _WORKER["draw_dir"] is not None:
        draw_boxes(rgb, boxes, settings.margin).save(_WORKER["draw_dir"] / f"{name}.jpg",
                                                      quality=90)
    return path, len(boxes), "ok" if boxes else "no face found"


def _parse_args(argv):
    parser = fetch.CliParser(
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
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parse_args(argv)
    from tqdm import tqdm

    settings = Settings(args.margin, args.size, args.min_size, args.scale_factor,
                        args.min_neighbors)
    try:
        cascade_path = cascade.ensure_cascade(args.cascade, args.data_dir)
        cascade.load_cascade(cascade_path)  # fail here, once, rather than in every worker
    except cascade.CascadeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    out_dir = args.data_dir / args.dataset
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.draw:
        args.draw.mkdir(parents=True, exist_ok=True)
    root = args.input if args.input.is_dir() else args.input.parent
    pictures = list_pictures(args.input)
    names = source_names(pictures, root)
    manifest_path = out_dir / MANIFEST
    done = {} if args.force else read_manifest(manifest_path)
    signature = settings.signature()

    tasks, keys, skipped = [], {}, Counter()
    for picture in pictures:
        rel = str(picture.relative_to(root)) if picture != root else picture.name
        keys[str(picture)] = (rel, _file_key(picture))
        row = done.get(rel)
        if row and row[0] == keys[str(picture)][1] and row[1] == signature:
            skipped["already done"] += 1
            continue
        if row:  # done before with other settings or an older file: drop its old crops
            for i in range(row[2]):
                (out_dir / f"{names[picture]}-{i}.jpg").unlink(missing_ok=True)
        tasks.append((str(picture), names[picture]))

    started, faces, read = time.perf_counter(), 0, 0
    init = (str(cascade_path), settings, str(out_dir), str(args.draw) if args.draw else None)
    jobs = max(1, min(args.jobs, len(tasks)))
    with open(manifest_path, "a", encoding="utf-8") as manifest:
        if jobs == 1:
            _init_worker(*init)
            results = map(_process, tasks)
            pool = None
        else:
            pool = multiprocessing.get_context("spawn").Pool(jobs, _init_worker, init)
            results = pool.imap_unordered(_process, tasks)
        try:
            for path, count, status in tqdm(results, total=len(tasks), unit="pic",
                                            desc="faces", disable=None):
                rel, key = keys[path]
                manifest.write(f"{rel}\t{key}\t{signature}\t{count}\t{status}\n")
                manifest.flush()  # so an interrupted run resumes where it stopped
                if status.startswith("unreadable"):
                    skipped["unreadable"] += 1
                    continue
                read += 1
                faces += count
                if status != "ok":
                    skipped[status] += 1
        finally:
            if pool is not None:
                pool.terminate()
    elapsed = time.perf_counter() - started

    detail = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) or "none"
    print(f"{len(pictures)} pictures found, {read} read, {faces} faces written to {out_dir} "
          f"in {elapsed:.1f} s; skipped: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
