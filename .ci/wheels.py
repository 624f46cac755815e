"""Checks, without installing, that setup.py's base requirements resolve to wheels on the
machines users have: Linux x86_64 and aarch64, macOS arm64 and Windows x86_64, each with
Python 3.10-3.13.

For each target, pip resolves the requirements from PyPI's metadata alone (`install --dry-run
--only-binary=:all: --platform ... --python-version ...`): nothing is built or installed, and
only each wheel's metadata is read, by HTTP range requests (about 11 MB a target and Python; the
16 take 2-3 minutes on 2 cores, most of it waiting on PyPI). pip evaluates environment
markers (setup.py's `tensorflow-cpu` vs `tensorflow`, and the markers in every dependency's own
requirements) against the machine it runs on, not the target, so this script runs pip with the
target's marker environment in place of the host's.

Usage: python .ci/wheels.py [--python 3.13] [--target macos-arm64]   (exit 1 if any fails)
"""

import argparse
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# pip's words for PyPI being out of reach: a network fault is not a requirement that fails to
# resolve, so it is reported but does not fail CI.
NETWORK_FAULTS = ("NewConnectionError", "ConnectionError", "Max retries exceeded",
                  "Read timed out", "ReadTimeoutError", "Temporary failure in name resolution",
                  "Network is unreachable", "HTTP error 5")
GLIBC = 28  # the Linux wheels must run on glibc 2.28 (Debian 10, RHEL 8, Ubuntu 20.04 has 2.31)


def manylinux(arch):
    """pip's --platform tags for a glibc-2.28 Linux on `arch`: pip expands macOS versions by
    itself, but a manylinux tag only to its legacy alias, so every older glibc is listed."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC, 16, -1)] + \
        [f"manylinux2014_{arch}"]


# name -> (pip's --platform tags, the marker variables a Python there reports)
TARGETS = {
    "linux-x86_64": (manylinux("x86_64"),
                     {"sys_platform": "linux", "platform_system": "Linux",
                      "platform_machine": "x86_64", "os_name": "posix"}),
    "linux-aarch64": (manylinux("aarch64"),
                      {"sys_platform": "linux", "platform_system": "Linux",
                       "platform_machine": "aarch64", "os_name": "posix"}),
    "macos-arm64": (["macosx_14_0_arm64"],
                    {"sys_platform": "darwin", "platform_system": "Darwin",
                     "platform_machine": "arm64", "os_name": "posix"}),
    "windows-x86_64": (["win_amd64"],
                       {"sys_platform": "win32", "platform_system": "Windows",
                        "platform_machine": "AMD64", "os_name": "nt"}),
}
# Runs pip with packaging's marker environment replaced by the target's (argv[1], JSON).
PIP_AS_TARGET = """
import json, sys
from pip._vendor.packaging import markers
target = json.loads(sys.argv[1])
host = markers.default_environment
markers.default_environment = lambda: {**host(), **target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def base_requirements():
    """setup.py's install_requires, markers included, read without installing anything."""
    import setuptools

    arguments = {}
    real_setup, setuptools.setup = setuptools.setup, lambda **given: arguments.update(given)
    try:
        runpy.run_path(str(ROOT / "setup.py"))
    finally:
        setuptools.setup = real_setup
    return arguments["install_requires"]


def marker_environment(machine, python):
    """The environment-marker variables of CPython `python` on `machine`."""
    return {**machine, "python_version": python, "python_full_version": f"{python}.0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def resolve(requirements, target, python):
    """Resolve `requirements` for (`target`, `python`); returns (ok, pinned names or pip's
    last error lines), ok None when PyPI could not be reached."""
    platforms, machine = TARGETS[target]
    with tempfile.TemporaryDirectory() as scratch:
        report = os.path.join(scratch, "report.json")
        command = [sys.executable, "-c", PIP_AS_TARGET,
                   json.dumps(marker_environment(machine, python)),
                   "install", "--dry-run", "--quiet", "--ignore-installed",
                   # Read each wheel's metadata with HTTP range requests: without it, pip
                   # downloads whole wheels (TensorFlow's are 260-350 MB) where the index
                   # serves no separate metadata files.
                   "--use-feature=fast-deps",
                   "--only-binary=:all:", *(f"--platform={tag}" for tag in platforms),
                   "--python-version", python,
                   "--target", os.path.join(scratch, "target"), "--report", report,
                   "--disable-pip-version-check", *requirements]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            unreachable = any(fault in done.stderr for fault in NETWORK_FAULTS)
            return None if unreachable else False, done.stderr.strip().splitlines()[-3:]
        with open(report, encoding="utf-8") as file:
            items = json.load(file)["install"]
    return True, sorted(f"{item['metadata']['name']}=={item['metadata']['version']}"
                        for item in items)


def main():
    """Resolve every (target, Python) pair, eight at a time; print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", choices=PYTHONS)
    parser.add_argument("--target", action="append", choices=sorted(TARGETS))
    parser.add_argument("--verbose", action="store_true", help="list each resolved set")
    args = parser.parse_args()
    requirements = base_requirements()
    pairs = [(t, p) for t in args.target or TARGETS for p in args.python or PYTHONS]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda pair: resolve(requirements, *pair), pairs))
    failed = unchecked = 0
    for (target, python), (ok, detail) in zip(pairs, results, strict=True):
        tensorflow = [name for name in detail if name.startswith("tensorflow")] if ok else []
        verdict = {True: f"resolves ({len(detail)} wheels; {', '.join(tensorflow)})",
                   False: "FAILS: ", None: "not checked, PyPI out of reach: "}[ok]
        print(f"{target} Python {python}: {verdict}" + ("" if ok else " | ".join(detail)))
        if args.verbose and ok:
            print("    " + " ".join(detail))
        failed += ok is False
        unchecked += ok is None
    print(f"{len(pairs) - failed - unchecked} of {len(pairs)} resolve, {failed} fail, "
          f"{unchecked} not checked (network), in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
