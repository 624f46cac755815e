"""Download pictures and datasets, politely.

    dcgan-download urls list.txt --out raw/
    dcgan-download booru https://danbooru.donmai.us/posts.json --tags "1girl solo" \\
        --pages 1-3 --out raw/
    dcgan-download mnist            # data/mnist/, md5-checked
    dcgan-download celebA           # data/celebA/ (1.4 GB; needs Google Drive)

One request at a time with ``--delay`` seconds between requests, retries with exponential
backoff, timeouts, a size cap per file, and files already present are skipped, so a rerun
resumes. Pictures must arrive with an image Content-Type and decode; names are sanitized so
nothing is written outside ``--out``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import urllib.parse
import zipfile
from collections import Counter
from pathlib import Path

from dcgan import pictures
from dcgan.pictures import DECODE_ERRORS
from dcgan.prep import fetch

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# carpedm20's download.py takes this Google Drive file; the md5 is the published one.
CELEBA_URL = ("https://drive.usercontent.google.com/download?"
              "id=0B7EVK8r0v71pZjFTYXZWM3FlRnM&export=download&confirm=t")
CELEBA_MD5 = "00d2c5bc6d35e252742224ab0c1e8fcb"
CELEBA_ZIP = "img_align_celeba.zip"


def check_picture(path: Path) -> None:
    """Raise `fetch.BadContent` unless `path` fully decodes as a picture."""
    try:
        with pictures.open_picture(path):
            pass
    except DECODE_ERRORS as exc:
        raise fetch.BadContent(f"does not decode as a picture ({type(exc).__name__})") from None


def name_from_url(url: str) -> str:
    """A safe file name from the last component of the URL's path."""
    return fetch.sanitize_name(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1], "download")


def fetch_pictures(items: list[tuple[str, str, str | None]], out: Path,
                   opts: fetch.Options) -> Counter:
    """Download ``(url, name, md5 or None)`` items into `out`; returns outcome counts.

    Files already present are skipped; each failure is printed as one line and counted.
    """
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    counts = Counter()
    for done, (url, name, md5) in enumerate(
        tqdm(items, unit="file", desc="download", disable=None), start=1
    ):
        try:
            target = fetch.safe_join(out, name)
            if target.exists():
                counts["already present"] += 1
                continue
            fetch.download(url, target, opts, md5=md5, content_type="image/",
                           check=check_picture)
            counts["downloaded"] += 1
        except (fetch.FetchError, ValueError) as exc:
            kind = getattr(exc, "kind", "bad name")
            counts[kind] += 1
            tqdm.write(f"skipped ({kind}): {exc}", file=sys.stderr)
            if getattr(exc, "offline", False):
                counts["not tried (offline)"] += len(items) - done
                break
    return counts


def read_url_list(path: Path) -> list[tuple[str, str, str | None]]:
    """Items from a text file: one URL a line, optionally a tab and a file name; # comments.

    URLs sharing a file name get a short hash of the URL in front, so none overwrites another.
    """
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        url, _, name = line.partition("\t")
        rows.append((url.strip(), name.strip() or name_from_url(url.strip())))
    seen = Counter(fetch.sanitize_name(name) for _, name in rows)
    return [
        (url, name if seen[fetch.sanitize_name(name)] == 1
         else hashlib.sha1(url.encode()).hexdigest()[:8] + "-" + name, None)
        for url, name in rows
    ]


def booru_items(listing: str, tags: str, pages: range, limit: int,
                opts: fetch.Options) -> list[tuple[str, str, str | None]]:
    """Picture items from booru-style JSON pages (danbooru ``posts.json``, moebooru
    ``post.json``): ``listing?tags=...&page=N&limit=...`` for each page in `pages`."""
    site = fetch.sanitize_name(urllib.parse.urlsplit(listing).hostname or "booru")
    items = []
    for page in pages:
        query = urllib.parse.urlencode({"tags": tags, "page": page, "limit": limit})
        url = listing + ("&" if "?" in listing else "?") + query
        posts = json.loads(fetch.get_bytes(url, opts))
        if isinstance(posts, dict):  # some versions wrap the list
            posts = posts.get("posts", [])
        if not posts:
            break
        for post in posts:
            file_url = post.get("file_url") if isinstance(post, dict) else None
            if not file_url:  # hidden or restricted posts come without one
                continue
            file_url = urllib.parse.urljoin(url, file_url)
            ext = str(post.get("file_ext") or Path(name_from_url(file_url)).suffix.lstrip("."))
            if not pictures.is_picture_name("." + ext):
                continue
            md5 = post.get("md5")
            md5 = md5 if isinstance(md5, str) and len(md5) == 32 else None
            items.append((file_url, f"{site}_{post.get('id', md5 or len(items))}.{ext}", md5))
    return items


def fetch_mnist(out: Path, base_url: str, opts: fetch.Options) -> Counter:
    """The four MNIST IDX files, each checked against its md5."""
    counts = Counter()
    out.mkdir(parents=True, exist_ok=True)
    for name, md5 in MNIST_FILES.items():
        target = out / name
        if target.is_file() and fetch.file_digest(target, "md5") == md5:
            counts["already present"] += 1
            continue
        try:
            fetch.download(urllib.parse.urljoin(base_url, name), target, opts, md5=md5)
            counts["downloaded"] += 1
        except fetch.FetchError as exc:
            counts[exc.kind] += 1
            print(f"{name}: {exc}", file=sys.stderr)
    return counts


def fetch_celeba(out: Path, url: str, opts: fetch.Options) -> Counter:
    """img_align_celeba.zip (md5-checked) unpacked into `out` like carpedm20's script."""
    archive = out / CELEBA_ZIP
    if not (archive.is_file() and fetch.file_digest(archive, "md5") == CELEBA_MD5):
        fetch.download(url, archive, opts, md5=CELEBA_MD5)
    root = out.resolve()
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            target = (out / member.filename).resolve()
            if root not in target.parents:
                raise fetch.BadContent(f"{archive} holds a path outside {out}: {member.filename}")
        zipped.extractall(out)
    return Counter(downloaded=1)


def _pages(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def _parse_args(argv):
    parser = fetch.CliParser(prog="dcgan-download",
                             description=__doc__.split("\n")[0])
    common = fetch.CliParser(add_help=False)
    common.add_argument("--delay", type=float, default=1.0,
                        help="seconds between requests (1.0)")
    common.add_argument("--timeout", type=float, default=30.0, help="socket timeout (30 s)")
    common.add_argument("--retries", type=int, default=3, help="tries after the first (3)")
    common.add_argument("--backoff", type=float, default=2.0,
                        help="first retry wait, doubled each time (2 s)")
    common.add_argument("--max_mb", type=float, default=50.0, help="size cap per file (50 MB)")
    sub = parser.add_subparsers(dest="target", required=True, metavar="TARGET")

    urls = sub.add_parser("urls", parents=[common], help="URLs listed in a text file")
    urls.add_argument("list", type=Path, help="text file: one URL a line [TAB file name]")
    urls.add_argument("--out", type=Path, default=Path("raw"), help="target folder (raw)")

    booru = sub.add_parser("booru", parents=[common], help="a booru-style posts.json listing")
    booru.add_argument("listing", help="e.g. https://safebooru.donmai.us/posts.json")
    booru.add_argument("--tags", default="", help='search tags, e.g. "1girl solo"')
    booru.add_argument("--pages", type=_pages, default=range(1, 2), help="page range, e.g. 1-5")
    booru.add_argument("--limit", type=int, default=100, help="posts per page (100)")
    booru.add_argument("--out", type=Path, default=Path("raw"), help="target folder (raw)")

    mnist = sub.add_parser("mnist", parents=[common], help="the four MNIST IDX files")
    mnist.add_argument("--base_url", default=MNIST_URL, help=f"mirror ({MNIST_URL})")
    mnist.add_argument("--out", type=Path, default=Path("data/mnist"), help="(data/mnist)")

    celeba = sub.add_parser("celebA", parents=[common], help="aligned CelebA (1.4 GB)")
    celeba.add_argument("--url", default=CELEBA_URL, help="where img_align_celeba.zip is")
    celeba.add_argument("--out", type=Path, default=Path("data/celebA"), help="(data/celebA)")
    args = parser.parse_args(argv)
    if args.delay < 0 or args.timeout <= 0 or args.retries < 0 or args.max_mb <= 0:
        parser.error("need --delay >= 0, --timeout > 0, --retries >= 0 and --max_mb > 0")
    if args.target == "urls" and not args.list.is_file():
        parser.error(f"URL list {args.list} does not exist; give a text file of URLs")
    if args.target == "celebA" and args.max_mb == 50.0:
        args.max_mb = 2048.0  # the archive is 1.4 GB; the picture cap makes no sense here
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parse_args(argv)
    opts = fetch.Options(timeout=args.timeout, retries=args.retries, backoff=args.backoff,
                         max_bytes=int(args.max_mb * (1 << 20)),
                         limiter=fetch.RateLimiter(args.delay))
    try:
        if args.target == "urls":
            counts = fetch_pictures(read_url_list(args.list), args.out, opts)
        elif args.target == "booru":
            items = booru_items(args.listing, args.tags, args.pages, args.limit, opts)
            counts = fetch_pictures(items, args.out, opts)
        elif args.target == "mnist":
            counts = fetch_mnist(args.out, args.base_url, opts)
        else:
            counts = fetch_celeba(args.out, args.url, opts)
    except (fetch.FetchError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
        offline = " (no network? this step needs internet access)" if getattr(
            exc, "offline", False) else ""
        print(f"error: {args.target} download failed{offline}: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
    print(f"{args.target} -> {args.out}: {summary or 'nothing to do'}")
    failed = sum(n for why, n in counts.items() if why not in ("downloaded", "already present"))
    return 1 if failed and not counts["downloaded"] + counts["already present"] else 0


if __name__ == "__main__":
    sys.exit(main())
