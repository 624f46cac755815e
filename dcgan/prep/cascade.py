"""Locate, download and verify nagadomi's lbpcascade_animeface.xml (MIT licence).

The file is never committed to the project: users fetch it once with
``dcgan-cascade`` (or implicitly through ``dcgan-faces``) and it is
kept under ``data/cascade/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dcgan.prep import fetch, tool_cli

CASCADE_NAME = "lbpcascade_animeface.xml"
CASCADE_URL = (
    "https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/" + CASCADE_NAME
)
CASCADE_SHA256 = "9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30"
# The real file is ~247 KB; the cap only guards against a wrong URL serving something huge.
CASCADE_MAX_BYTES = 4 << 20


class CascadeUnavailable(RuntimeError):
    """The cascade file is missing and could not be fetched; the message says what to do."""


def default_path(data_dir: str | Path = "data") -> Path:
    """Where the downloaded cascade is kept."""
    return Path(data_dir) / "cascade" / CASCADE_NAME


def manual_instructions(target: Path, url: str = CASCADE_URL) -> str:
    """One line telling the user how to get the file by hand."""
    return (
        f"download {url} yourself and save it as {target} "
        f"(sha256 {CASCADE_SHA256[:12]}...), or pass --cascade PATH"
    )


def ensure_cascade(
    path: str | Path | None = None,
    data_dir: str | Path = "data",
    url: str = CASCADE_URL,
    opts: fetch.Options | None = None,
) -> Path:
    """Return a usable cascade file, downloading it into `data_dir` if needed.

    An explicit `path` is used as given (it must exist). Otherwise the copy under
    ``data_dir/cascade/`` is used if its sha256 is right, else it is (re)downloaded and
    verified. Raises `CascadeUnavailable` with a one-line explanation on failure.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise CascadeUnavailable(f"cascade file {path} does not exist; "
                                     f"drop --cascade to download it, or fix the path")
        return path
    target = default_path(data_dir)
    if target.is_file() and fetch.file_digest(target) == CASCADE_SHA256:
        return target
    opts = opts or fetch.Options(timeout=20, retries=2, backoff=1.0,
                                 max_bytes=CASCADE_MAX_BYTES)
    try:
        return fetch.download(url, target, opts, sha256=CASCADE_SHA256)
    except fetch.NetworkError as exc:
        raise CascadeUnavailable(
            f"cannot download the face cascade, no network? ({exc}); "
            + manual_instructions(target, url)
        ) from None
    except fetch.FetchError as exc:
        raise CascadeUnavailable(
            f"cannot download the face cascade ({exc}); " + manual_instructions(target, url)
        ) from None


def load_cascade(path: str | Path):
    """Load the cascade into an OpenCV `CascadeClassifier`, explaining the usual failures."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):
        raise CascadeUnavailable(
            f"this OpenCV ({cv2.__version__}) has no CascadeClassifier; "
            'install "opencv-python-headless>=4.8,<5" (or opencv-contrib-python-headless)'
        )
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise CascadeUnavailable(f"{path} is not a valid OpenCV cascade file")
    return classifier


def main(argv: list[str] | None = None) -> int:
    """CLI: ``dcgan-cascade [--data_dir data] [--url URL]`` fetches the cascade."""
    parser = tool_cli.CliParser(prog="dcgan-cascade", description=__doc__)
    parser.add_argument("--data_dir", default="data", help="folder for datasets (default: data)")
    parser.add_argument("--url", default=CASCADE_URL, help="where to download the cascade")
    args = parser.parse_args(argv)
    try:
        path = ensure_cascade(None, args.data_dir, args.url)
    except CascadeUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"cascade ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
