"""How close projection (`Generator.project`) gets to faces a run did not train on, against
random samples of the same run.

Usage: python bench/projection_quality.py --run checkpoints/anime_64_48_48 [--count 32]
       [--restarts 8] [--steps 300] [--random 64]
The targets are the last --count faces of ../shared/data/anime_faces by number (13293-13326 for
32): train the run on a folder that leaves them out (the README's Projection section has the
commands). For each target it prints the mean absolute pixel difference (0-255) of its
projection, of a random sample (the mean over --random samples) and of the nearest of those
samples, then the means.
"""

import argparse
import time

import numpy as np
from common import FACES, face_names, machine_line, print_table

from dcgan import Generator
from dcgan.data import load_target
from dcgan.generator import PROJECTION_RESTARTS, PROJECTION_STEPS
from dcgan.projection import pixel_distance


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the run's folder (holding run.json)")
    parser.add_argument("--count", type=int, default=32, help="held-out faces projected")
    parser.add_argument("--restarts", type=int, default=PROJECTION_RESTARTS,
                        help="starting points per face")
    parser.add_argument("--steps", type=int, default=PROJECTION_STEPS, help="Adam steps per face")
    parser.add_argument("--random", type=int, default=64, help="random samples compared")
    args = parser.parse_args()
    print(machine_line())
    names = face_names()[-args.count:]
    with Generator(args.run) as generator:
        samples = generator.images(seeds=range(1_000_000, 1_000_000 + args.random))
        rows, started = [], time.perf_counter()
        for name in names:
            target = load_target(FACES / name, generator.settings.spec)
            found = generator.project(target, restarts=args.restarts, steps=args.steps)
            random = pixel_distance(samples, target)
            rows.append((found.distance, random.mean(), random.min()))
        seconds = (time.perf_counter() - started) / len(names)
        print(f"{generator!r}: {len(names)} held-out faces ({names[0]}-{names[-1]}), "
              f"{args.restarts} restarts x {args.steps} steps, {seconds:.1f} s a face")
    table = [(name, *(f"{value:.1f}" for value in row)) for name, row in zip(names, rows,
                                                                            strict=True)]
    table.append(("mean", *(f"{value:.1f}" for value in np.mean(rows, axis=0))))
    print_table(("face", "projection", "random sample", f"nearest of {args.random}"), table)


if __name__ == "__main__":
    main()
