"""Peak memory (RSS) of training on a 33k-image dataset, the size of the common anime-face set.

    python bench/train_memory.py                  # 33,000 images, 48x48, batch 64, 20 steps
    python bench/train_memory.py --images 33000 --steps 20 --precision bf16

The shared folder holds 12,000 real faces; the dataset is made of 33,000 links to them in a
scratch folder (distinct names, so every one is decoded and cached as a separate image). Two
`python main.py --train` runs are measured: the first decodes everything into the memory-mapped
uint8 cache, the second reuses it. Peak RSS is the child's ru_maxrss.
"""

import argparse
import os
import resource
import subprocess
import sys
import time

from common import REPO, machine_line, need_faces, print_table, scratch_folder


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=33000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--precision", default="fp32")
    return parser.parse_args()


def _linked_dataset(scratch, count):
    faces = need_faces()
    names = sorted(os.listdir(faces))
    folder = os.path.join(scratch, "data", "faces")
    os.makedirs(folder)
    for index in range(count):
        os.symlink(faces / names[index % len(names)], os.path.join(folder, f"{index}.jpg"))


def _peak_rss_of(command, cwd):
    """(peak RSS in MB, seconds) of one child process, measured with wait4's rusage."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"training failed: {process.stderr.read()[-2000:]}")
    return usage.ru_maxrss / 1024, elapsed


def main():
    """Build the linked dataset, train twice, print peak RSS."""
    args = _parse()
    print(machine_line())
    assert resource.getrusage(resource.RUSAGE_SELF)  # Linux-only benchmark (ru_maxrss in KB)
    with scratch_folder("train_memory") as scratch:
        _linked_dataset(scratch, args.images)
        command = [sys.executable, str(REPO / "main.py"), "--dataset", "faces", "--train",
                   "--output_size", str(args.output_size), "--epoch", "1",
                   "--train_size", str(64 * args.steps), "--precision", args.precision,
                   "--sample_freq", "100000"]
        rows = []
        for label in ("first run: decode 33k into the cache, then train",
                      "second run: cache reused, train"):
            rss, seconds = _peak_rss_of(command, scratch)
            rows.append([label, f"{rss:.0f}", f"{seconds:.0f}"])
        cache_mb = sum(os.path.getsize(os.path.join(root, name))
                       for root, _, names in os.walk(scratch) for name in names
                       if name.endswith(".npy")) / 1e6
    print(f"\n{args.images} images -> {args.output_size}x{args.output_size}, {args.steps} steps "
          f"of batch 64, {args.precision}; uint8 cache on disk {cache_mb:.0f} MB")
    print_table(["run", "peak RSS MB", "wall s"], rows)
    print(machine_line())


if __name__ == "__main__":
    main()
