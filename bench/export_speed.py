"""ms per image of an exported generator: TF sampler vs onnxruntime (CPU), interleaved runs.

    python bench/export_speed.py --checkpoint_dir checkpoints --export_dir export

Uses the newest run under --checkpoint_dir and its export (`python main.py --export`) under
--export_dir. The browser's time (wasm) is what the page shows; tests/web_page_check.cjs prints it.
"""

import argparse
import statistics
import time

import common  # noqa: F401  (the checkout's dcgan first on sys.path)


def _time(function, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main():
    """Print a table of median ms per image for batch 1 and 16, and the TF/ONNX ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint_dir", default="checkpoints")
    parser.add_argument("--export_dir", default="export")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    import onnxruntime

    from dcgan import export, runs
    from dcgan.session import TrainedGenerator

    run = runs.newest_run(args.checkpoint_dir)
    onnx_path = f"{export.run_export_dir(args.export_dir, run)}/{export.ONNX_MODEL}"
    session = onnxruntime.InferenceSession(onnx_path)
    print("| batch | TF ms/image | onnxruntime ms/image | TF / ORT |\n|---|---|---|---|")
    with TrainedGenerator(run) as generator:
        for batch in (1, 16):
            z = generator.sample_z(batch, rng_seed=0)
            feed = {"z:0": z}
            repeats = max(1, 64 // batch)
            generator.generate(z), session.run(None, feed)  # warm-up
            tf_times, ort_times = [], []
            for _ in range(args.rounds):  # interleaved so load changes hit both alike
                tf_times.append(_time(lambda z=z: generator.generate(z), repeats) / batch)
                ort_times.append(_time(lambda feed=feed: session.run(None, feed), repeats) / batch)
            tf_ms = statistics.median(tf_times) * 1e3
            ort_ms = statistics.median(ort_times) * 1e3
            print(f"| {batch} | {tf_ms:.3f} | {ort_ms:.3f} | {tf_ms / ort_ms:.2f} |")


if __name__ == "__main__":
    main()
