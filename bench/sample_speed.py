"""Generation speed (images/s at batch 1 and 64) and time from `main.py --visualize` to its image.

    python bench/sample_speed.py                 # 48x48 faces generator (gf 64, z 100)

The generator is the project's TrainedGenerator (the path --visualize, export and evaluate use)
restored from a checkpoint of a real training run (a few steps on the shared faces: speed does
not depend on how well it is trained). fp32 and bf16 sessions take turns. An exported ONNX model
is timed too when the project has an exporter and onnxruntime is installed. It also prints how
far a bf16 sampler's 8-bit pictures are from the fp32 ones (what the exported model and the web
page draw) for the same latent vectors: docs/speed.md's precision contract.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
from common import (
    REPO,
    machine_line,
    median,
    print_table,
    project_trainer,
    scratch_faces,
    scratch_folder,
)


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--visualize_runs", type=int, default=3)
    parser.add_argument("--train_steps", type=int, default=100,
                        help="training steps before sampling (the agreement depends on them)")
    return parser.parse_args()


def _trained_settings(scratch, size, steps):
    scratch_faces(scratch, 256, size)
    trainer, session = project_trainer(scratch, "fp32", 64, size)
    for step in range(steps):
        trainer.step(session, step, None)
    trainer.graph.checkpointer.save(session, steps)
    session.close()
    from dcgan.settings import save

    save(trainer.settings)  # run.json: what --visualize finds the run by
    return trainer.settings


def _agreement(generators, z):
    """bf16 vs fp32 pictures of the same z, in 8-bit levels: (largest difference, share of
    values that differ, mean |difference|)."""
    from dcgan.grids import to_uint8

    fp32, bf16 = (to_uint8(generators[p].generate(z)).astype(np.int16) for p in ("fp32", "bf16"))
    difference = np.abs(fp32 - bf16)
    return int(difference.max()), float((difference > 0).mean()), float(difference.mean())


def _generation_rates(settings, rounds):
    from dcgan.session import TrainedGenerator

    generators = {p: TrainedGenerator(settings.replace(precision=p)) for p in ("fp32", "bf16")}
    rng = np.random.default_rng(0)
    z = {b: rng.uniform(-1, 1, (b, settings.model.z_dim)).astype(np.float32) for b in (1, 64)}
    repeats = {1: 64, 64: 4}  # ~ the same number of images per timing
    times = {(p, b): [] for p in generators for b in z}
    for gen in generators.values():
        for batch in z:
            gen.generate(z[batch])  # graph optimisation on first run
    for _ in range(rounds):
        for (precision, batch), values in times.items():
            start = time.perf_counter()
            for _ in range(repeats[batch]):
                generators[precision].generate(z[batch])
            values.append((time.perf_counter() - start) / (repeats[batch] * batch))
    agreement = _agreement(generators, rng.uniform(-1, 1, (512, settings.model.z_dim))
                           .astype(np.float32))
    for gen in generators.values():
        gen.close()
    return {key: 1.0 / median(values) for key, values in times.items()}, agreement


def _onnx_status():
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    if importlib.util.find_spec("dcgan.export") is None:
        return "the project has no exporter (dcgan.export) yet"
    return "exporter present: time it with its own benchmark"


def _visualize_seconds(scratch, runs):
    command = [sys.executable, str(REPO / "main.py"), "--visualize",
               "--checkpoint_dir", os.path.join(scratch, "checkpoints_fp32"),
               "--sample_dir", os.path.join(scratch, "samples")]
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=scratch, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode or not os.path.exists(result.stdout.strip().splitlines()[-1]):
            sys.exit(f"--visualize failed: {result.stderr[-2000:]}")
        seconds.append(elapsed)
    return seconds


IMPORTS = {
    "import tensorflow": "import tensorflow",
    "the same, Keras skipped as main.py does": "from dcgan.runtime import skip_keras\n"
                                               "skip_keras()\nimport tensorflow",
}


def _import_seconds(code):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO, check=True)
    return time.perf_counter() - start


def main():
    """Print generation rates and the --visualize latency."""
    args = _parse()
    print(machine_line())
    with scratch_folder("sample_speed") as scratch:
        settings = _trained_settings(scratch, args.output_size, args.train_steps)
        rates, agreement = _generation_rates(settings, args.rounds)
        print(f"\ngenerator {args.output_size}x{args.output_size}, gf 64, z 100 "
              f"(medians of {args.rounds} interleaved rounds):")
        print_table(["engine", "batch 1 img/s", "batch 64 img/s"],
                    [[f"TF {p}", f"{rates[(p, 1)]:.0f}", f"{rates[(p, 64)]:.0f}"]
                     for p in ("fp32", "bf16")] + [["ONNX", _onnx_status(), "-"]])
        largest, share, mean = agreement
        print(f"\nbf16 vs fp32 pictures of 512 z after {args.train_steps} training steps, "
              f"8-bit levels: largest difference {largest}/255, {share:.1%} of values differ, "
              f"mean {mean:.3f}/255", flush=True)
        visualize = _visualize_seconds(scratch, args.visualize_runs)
        imports = {name: [] for name in IMPORTS}
        for _ in range(args.visualize_runs):  # in turns, like everything here
            for name, code in IMPORTS.items():
                imports[name].append(_import_seconds(code))
    print(f"\n`python main.py --visualize` (64-image grid) to its written image: median "
          f"{median(visualize):.2f} s of {len(visualize)} "
          f"({', '.join(f'{s:.2f}' for s in visualize)})")
    print_table(["start-up alone (python -c)", "median s"],
                [[name, f"{median(seconds):.2f}"] for name, seconds in imports.items()])
    print(machine_line())


if __name__ == "__main__":
    main()
