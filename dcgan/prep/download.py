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

import codecs
import hashlib
import json
import sys
import urllib.parse
import zipfile
from collections import Counter
from pathlib import Path

from dcgan import pictures
from dcgan.pictures import DECODE_ERRORS
from dcgan.prep import fetch, tool_cli

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


def check_picture(path: Path, name: str = "") -> str | None:
    """Raise `fetch.BadContent` unless `path` fully decodes as a picture. Returns the extension
    to add when `name` has no picture extension: training reads pictures by their extension,
    and a URL such as ``.../image?id=3`` gives none."""
    try:
        with pictures.open_picture(path):
            pass
        if pictures.is_picture_name(name):
            return None
        extension = pictures.extension_for(path)
    except DECODE_ERRORS as exc:
        raise fetch.BadContent(f"does not decode as a picture ({type(exc).__name__})") from None
    if extension is None:
        raise fetch.BadContent(f"{name} is a picture in a format the tools do not read")
    return extension


def name_from_url(url: str) -> str:
    """A safe file name from the last component of the URL's path (of the text itself when it
    is not even a URL)."""
    try:
        path = urllib.parse.urlsplit(url).path
    except ValueError:
        path = url
    return fetch.sanitize_name(path.rsplit("/", 1)[-1], "download")


def _present(target: Path) -> bool:
    """True when `target` was downloaded before, under its name plus the extension a name
    without one was given."""
    if target.exists():
        return True
    return not pictures.is_picture_name(target.name) and any(
        target.with_name(target.name + ext).exists()
        for ext in set(pictures.FORMAT_EXTENSIONS.values()))


def _fetch_one(url: str, name: str, md5: str | None, out: Path, opts: fetch.Options) -> str:
    """Download one picture into `out`; returns the outcome ("downloaded", "already present").
    Raises FetchError (or ValueError for a name that would leave `out`)."""
    target = fetch.safe_join(out, name)
    if _present(target):
        return "already present"
    fetch.download(url, target, opts, md5=md5, content_type="image/",
                   check=lambda path: check_picture(path, target.name))
    return "downloaded"


def _host(url: str) -> str:
    """`host[:port]` of `url` ('' when it has none or is not a URL)."""
    try:
        return urllib.parse.urlsplit(url).netloc.rpartition("@")[2].lower()
    except ValueError:
        return ""


def fetch_pictures(items: list[tuple[str, str, str | None]], out: Path,
                   opts: fetch.Options) -> Counter:
    """Download ``(url, name, md5 or None)`` items into `out`; returns outcome counts.

    Files already present are skipped; each failure is printed as one line and counted, and the
    next item is tried. Once a host cannot be reached (no route, no name, refused), its other
    items are counted as not tried instead of waiting on it again.
    """
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    counts, unreachable = Counter(), set()
    for url, name, md5 in tqdm(items, unit="file", desc="download", disable=None):
        if _host(url) in unreachable:
            counts["not tried (host unreachable)"] += 1
            continue
        try:
            counts[_fetch_one(url, name, md5, out, opts)] += 1
        except (fetch.FetchError, ValueError) as exc:
            kind = getattr(exc, "kind", "bad name")
            counts[kind] += 1
            tqdm.write(f"skipped ({kind}): {exc}", file=sys.stderr)
            if getattr(exc, "offline", False):
                unreachable.add(_host(url))
    return counts


def _lines(data: bytes) -> list[str]:
    """The lines of a text file as Windows and others save it: UTF-16 with its byte-order mark
    ("Unicode" in Notepad), else UTF-8 with or without a BOM. Bytes that do not decode are
    kept as surrogate escapes or U+FFFD, so only their own line fails, as a bad URL."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", "replace")  # U+FFFD: refused as a bad URL
    else:
        text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8", "surrogateescape")
    return text.splitlines()


def read_url_list(path: Path) -> list[tuple[str, str, str | None]]:
    """Items from a text file: one URL a line, optionally a tab and a file name; # comments.

    URLs sharing a file name get a short hash of the URL in front, so none overwrites another.
    A line that is not UTF-8 or not a URL still becomes an item: downloading it fails as a
    "bad URL", counted with the others, instead of stopping the list.
    """
    rows = []
    for line in _lines(path.read_bytes()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        url, _, name = line.partition("\t")
        rows.append((url.strip(), name.strip() or name_from_url(url.strip())))
    seen = Counter(fetch.sanitize_name(name) for _, name in rows)
    return [
        (url, name if seen[fetch.sanitize_name(name)] == 1
         else hashlib.sha1(url.encode("utf-8", "surrogateescape")).hexdigest()[:8] + "-" + name,
         None)
        for url, name in rows
    ]


def _listing_page(url: str, opts: fetch.Options) -> list | None:
    """The posts of one listing page, or None when the page is not a JSON list of posts."""
    try:
        posts = json.loads(fetch.get_bytes(url, opts))
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested beyond reason
        return None
    if isinstance(posts, dict):  # some versions wrap the list
        posts = posts.get("posts", [])
    return posts if isinstance(posts, list) else None


def _post_item(post, page_url: str, site: str, index: int):
    """(item, None) for a post with a picture to fetch, or (None, why it is left out)."""
    if not isinstance(post, dict):
        return None, "malformed posts"
    file_url, ext, md5 = post.get("file_url"), post.get("file_ext"), post.get("md5")
    if not file_url:  # hidden or restricted posts come without one
        return None, "posts without a file"
    if not isinstance(file_url, str) or not isinstance(ext, (str, type(None))):
        return None, "malformed posts"
    try:
        file_url = urllib.parse.urljoin(page_url, file_url)
    except ValueError:  # e.g. an unclosed [IPv6 host
        return None, "malformed posts"
    ext = ext or Path(name_from_url(file_url)).suffix.lstrip(".")
    if ext and not pictures.is_picture_name("." + ext):
        return None, "posts that are not pictures"
    md5 = md5 if isinstance(md5, str) and len(md5) == 32 else None
    ident = post.get("id")
    ident = ident if isinstance(ident, (int, str)) and ident != "" else md5 or index
    return (file_url, f"{site}_{ident}" + (f".{ext}" if ext else ""), md5), None


def booru_items(listing: str, tags: str, pages: range, limit: int,
                opts: fetch.Options) -> tuple[list[tuple[str, str, str | None]], Counter]:
    """Picture items from booru-style JSON pages (danbooru ``posts.json``, moebooru
    ``post.json``): ``listing?tags=...&page=N&limit=...`` for each page in `pages`.

    Returns (items, skipped): posts and pages that cannot be used are counted by kind.
    """
    site = fetch.sanitize_name(_host(listing).partition(":")[0] or "booru")
    items, skipped = [], Counter()
    for page in pages:
        query = urllib.parse.urlencode({"tags": tags, "page": page, "limit": limit})
        url = listing + ("&" if "?" in listing else "?") + query
        posts = _listing_page(url, opts)
        if posts is None:
            skipped["listing pages that are not JSON lists"] += 1
            continue
        if not posts:
            break
        for post in posts:
            item, why = _post_item(post, url, site, len(items))
            if item:
                items.append(item)
            else:
                skipped[why] += 1
    return items, skipped


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
    parser = tool_cli.CliParser(prog="dcgan-download",
                             description=__doc__.split("\n")[0])
    common = tool_cli.CliParser(add_help=False)
    common.add_argument("--delay", type=float, default=1.0,
                        help="seconds between requests (1.0)")
    common.add_argument("--timeout", type=float, default=30.0,
                        help="longest wait for any one read (30 s)")
    common.add_argument("--deadline", type=float, default=600.0,
                        help="longest time for one whole file, however the server sends it "
                             "(600 s)")
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
    if args.delay < 0 or min(args.timeout, args.deadline, args.max_mb) <= 0 or args.retries < 0:
        parser.error("need --delay >= 0, --timeout > 0, --deadline > 0, --retries >= 0 and "
                     "--max_mb > 0")
    if args.target == "urls" and not args.list.is_file():
        parser.error(f"URL list {args.list} does not exist; give a text file of URLs")
    if args.target == "celebA" and args.max_mb == 50.0:
        args.max_mb = 2048.0  # the archive is 1.4 GB; the picture cap makes no sense here
    if args.target == "celebA" and args.deadline == 600.0:
        args.deadline = 4 * 3600.0  # nor does the picture deadline
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the process exit status."""
    args = _parse_args(argv)
    problem = tool_cli.unwritable(args.out, "--out", args.out)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    opts = fetch.Options(timeout=args.timeout, deadline=args.deadline, retries=args.retries,
                         backoff=args.backoff,
                         max_bytes=int(args.max_mb * (1 << 20)),
                         limiter=fetch.RateLimiter(args.delay))
    try:
        if args.target == "urls":
            counts = fetch_pictures(read_url_list(args.list), args.out, opts)
        elif args.target == "booru":
            items, skipped = booru_items(args.listing, args.tags, args.pages, args.limit, opts)
            counts = fetch_pictures(items, args.out, opts) + skipped
        elif args.target == "mnist":
            counts = fetch_mnist(args.out, args.base_url, opts)
        else:
            counts = fetch_celeba(args.out, args.url, opts)
    except (fetch.FetchError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
        offline = " (no network? this step needs internet access)" if getattr(
            exc, "offline", False) else ""
        print(f"error: {args.target} download failed{offline}: {exc}", file=sys.stderr)
        return 1
    summary = tool_cli.counts_in_words(counts)
    print(f"{args.target} -> {args.out}: {summary or 'nothing to do'}")
    failed = sum(n for why, n in counts.items() if why not in ("downloaded", "already present"))
    return 1 if failed and not counts["downloaded"] + counts["already present"] else 0


if __name__ == "__main__":
    sys.exit(main())
