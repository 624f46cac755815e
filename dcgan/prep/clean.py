"""Clean a folder of pictures: drop undecodable files, small pictures and (near-)duplicates.

    dcgan-clean --input data/anime            # writes data/anime_clean/
    dcgan-clean --input data/anime --list kept.txt   # only lists what to keep

The input folder is never modified: the kept pictures are copied to ``--output`` (or only
listed with ``--list``), and every dropped file is written with its reason to a report.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dcgan import durable, pictures
from dcgan.pictures import DECODE_ERRORS
from dcgan.prep import tool_cli

HASH_SIDE = 32  # pHash: DCT of a 32x32 grey thumbnail, keep the 8x8 lowest frequencies
REPORT = ".clean_report.tsv"
# Paths are written with the bytes the file system gave them, whatever their encoding.
NAMES = {"encoding": "utf-8", "errors": "surrogateescape"}


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    matrix = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n))
    matrix[0] /= np.sqrt(2)
    return matrix * np.sqrt(2 / n)


_DCT = _dct_matrix(HASH_SIDE)
_BITS = 1 << np.arange(64, dtype=np.uint64)


def phash(image: Image.Image) -> int:
    """64-bit perceptual hash: signs of the low DCT frequencies against their median.

    Re-encoding, mild resizing, small brightness changes keep most bits; different pictures
    differ in about half of them.
    """
    grey = np.asarray(
        image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS),
        dtype=np.float64,
    )
    low = (_DCT @ grey @ _DCT.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])  # the DC term only measures brightness
    return int(np.sum(_BITS[bits]))


def hamming(a: np.ndarray, b: int) -> np.ndarray:
    """Bit distances between each hash in `a` and the hash `b`."""
    return np.bitwise_count(a ^ np.uint64(b))


@dataclass
class Inspection:
    """What one file turned out to be."""

    path: str
    problem: str | None = None
    sha256: str = ""
    phash: int = 0
    size: tuple[int, int] = (0, 0)


def inspect(path: str) -> Inspection:
    """Decode `path` fully and hash its bytes and its look."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:  # permissions, I/O errors: the file, not the run, is what failed
        return Inspection(path, f"unreadable ({type(exc).__name__})")
    try:
        with pictures.open_picture(path) as image:  # decodes fully: verify() misses truncation
            size, look = image.size, phash(image)
    except DECODE_ERRORS as exc:
        return Inspection(path, f"does not decode ({type(exc).__name__})")
    return Inspection(path, None, hashlib.sha256(data).hexdigest(), look, size)


@dataclass
class Result:
    """Files kept, and files dropped as ``(path, reason)``."""

    kept: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> Counter:
        """How many files were dropped for each kind of reason."""
        return Counter(reason.split(" (")[0].split(" of ")[0] for _, reason in self.dropped)


def clean(paths: list[str], min_size: int = 48, threshold: int = 6, jobs: int = 1) -> Result:
    """Decide which of `paths` to keep; earlier paths win over their duplicates.

    Drops files that do not decode, pictures whose shorter side is below `min_size`, exact
    byte duplicates, and pictures whose perceptual hash is within `threshold` bits of one
    already kept.
    """
    if jobs > 1 and len(paths) > 200:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            found = pool.map(inspect, paths, chunksize=64)
    else:
        found = [inspect(p) for p in paths]

    result = Result()
    by_digest: dict[str, str] = {}
    kept_hashes = np.zeros(len(paths), dtype=np.uint64)
    n_kept = 0
    for item in found:
        if item.problem:
            result.dropped.append((item.path, item.problem))
        elif min(item.size) < min_size:
            result.dropped.append((item.path, f"too small ({item.size[0]}x{item.size[1]})"))
        elif item.sha256 in by_digest:
            result.dropped.append((item.path, f"exact duplicate of {by_digest[item.sha256]}"))
        else:
            distances = hamming(kept_hashes[:n_kept], item.phash)
            closest = int(np.argmin(distances)) if n_kept else -1
            if closest >= 0 and distances[closest] <= threshold:
                other = result.kept[closest]
                result.dropped.append(
                    (item.path, f"near duplicate of {other} ({distances[closest]} bits)")
                )
                continue
            by_digest[item.sha256] = item.path
            kept_hashes[n_kept] = item.phash
            n_kept += 1
            result.kept.append(item.path)
    return result


def _is_ours(folder: Path) -> bool:
    """True when `folder` is absent, empty, or an earlier --output (it holds our report): the
    only folders whose content clean may replace."""
    return not folder.exists() or (folder / REPORT).is_file() or (
        folder.is_dir() and not any(folder.iterdir()))


def _parse_args(argv):
    parser = tool_cli.CliParser(prog="dcgan-clean", description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, type=Path, help="folder of pictures")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for the kept pictures (default: <input>_clean); an earlier "
                             "output is replaced, so it holds exactly what was kept")
    parser.add_argument("--list", type=Path, default=None,
                        help="write the kept paths to this file instead of copying pictures")
    parser.add_argument("--min_size", type=int, default=48,
                        help="drop pictures whose shorter side is below this (48)")
    parser.add_argument("--threshold", type=int, default=6,
                        help="near duplicate: perceptual hashes differ in at most this many "
                             "of 64 bits (6; 0 = exact look only, -1 = off)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    args = parser.parse_args(argv)
    if not args.input.is_dir():
        parser.error(f"--input {args.input} is not a folder; give the folder to clean")
    if not -1 <= args.threshold <= 32 or args.min_size < 1 or args.jobs < 1:
        parser.error("need --threshold in -1..32, --min_size >= 1 and --jobs >= 1")
    if args.list is None:
        args.output = args.output or args.input.with_name(args.input.name + "_clean")
        parser.require_apart(args.input, "--input", args.output, "--output")
        if not _is_ours(args.output):
            parser.error(f"--output {args.output} holds files that clean did not write; pick a "
                         "new or empty folder")
    elif args.output is not None:
        parser.error("give --output (copy the kept pictures) or --list (list them), not both")
    return args


def write_output(source: Path, output: Path, result: Result) -> Path:
    """Make `output` hold exactly the kept pictures (copied from under `source`) and the report
    of the dropped ones; returns the report's path.

    The new folder is built beside the old one and swapped in, so copies left by an earlier run
    with other settings, or of inputs replaced since, never survive, and an interrupted run
    leaves the previous output whole.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(durable.fresh_folder(output))
    try:
        for path in result.kept:
            target = fresh / Path(path).relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        _write_report(fresh / REPORT, result)
        durable.swap_in(fresh, output)
    finally:
        with contextlib.suppress(OSError):  # the error that got here is the one to tell
            durable.remove(fresh)  # gone already when swapped in
    return output / REPORT


def _write_report(report: Path, result: Result) -> None:
    durable.write_atomically(str(report), "".join(f"{p}\t{why}\n" for p, why in result.dropped)
                             .encode(**NAMES))


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parse_args(argv)
    problem = (tool_cli.unwritable(args.list.parent, "--list", args.list)
               if args.list is not None
               else tool_cli.unwritable(args.output.parent, "--output", args.output))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    found, left_out = pictures.find_pictures(args.input)
    paths = [str(p) for p in found]
    result = clean(paths, args.min_size, args.threshold, args.jobs)

    if args.list is not None:
        args.list.parent.mkdir(parents=True, exist_ok=True)
        durable.write_atomically(str(args.list), "".join(p + "\n" for p in result.kept)
                                 .encode(**NAMES))
        report, where = args.list.with_name(args.list.name + ".dropped.tsv"), args.list
        _write_report(report, result)
    else:
        report, where = write_output(args.input, args.output, result), args.output

    counts = tool_cli.counts_in_words(result.counts()) or "none"
    others = tool_cli.counts_in_words(left_out, "", "; left out ")
    print(f"{len(paths)} pictures checked, {len(result.kept)} kept -> {where}; "
          f"dropped: {counts} (details in {report}){others}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
