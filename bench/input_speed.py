"""Input pipeline speed vs. how fast training consumes images, on the shared faces.

    python bench/input_speed.py                  # 48x48, batch 64, 2,000 faces
    python bench/input_speed.py --faces 12000 --rounds 5

Two stages are timed: decoding the pictures into the uint8 cache (Pillow decode, centre crop,
resize, once per dataset and size: `dcgan.data.build_cache`), and the steady-state feed that
training reads every step (`dcgan.data.make_dataset`: shuffle, gather from the memory map,
batch, prefetch). The feed and one training iteration take turns (feed, train, feed, train ...)
so both see the same load; the ratio is the feed's images/s over training's.
"""

import argparse
import os
import time

from common import machine_line, median, print_table, project_trainer, scratch_faces, scratch_folder


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--feed_batches", type=int, default=50, help="batches per feed turn")
    parser.add_argument("--precision", default="fp32")
    return parser.parse_args()


def _feed_reader(data, batch_size):
    import tensorflow as tf

    from dcgan.data import make_dataset

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        batch, _ = tf1.data.make_one_shot_iterator(make_dataset(data, batch_size, 1)).get_next()
        # The same uint8 -> [-1, 1] conversion the training graph does.
        images = tf.cast(batch, tf.float32) / 127.5 - 1.0
    session = tf1.Session(graph=graph)
    session.run(images.op)
    return lambda: session.run(images.op)


def main():
    """Time the cache build once, then the feed and training in turns; print the table."""
    args = _parse()
    print(machine_line())
    with scratch_folder("input_speed") as scratch:
        start = time.perf_counter()
        data = scratch_faces(scratch, args.faces, args.output_size)
        decode_rate = args.faces / (time.perf_counter() - start)
        read_batch = _feed_reader(data, args.batch_size)
        trainer, session = project_trainer(scratch, args.precision, args.batch_size,
                                           args.output_size)
        for step in range(2):  # graph optimisation and first-run allocations
            trainer.step(session, step, None)
        feed_times, train_times = [], []
        for step in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.feed_batches):
                read_batch()
            feed_times.append((time.perf_counter() - start) / args.feed_batches)
            start = time.perf_counter()
            trainer.step(session, step, None)
            train_times.append(time.perf_counter() - start)
        cache = [os.path.join(root, f) for root, _, files in os.walk(scratch)
                 for f in files if f.endswith(".npy")]
        cache_mb = sum(os.path.getsize(p) for p in cache) / 1e6
    feed_rate = args.batch_size / median(feed_times)
    train_rate = args.batch_size / median(train_times)
    print(f"\n{args.faces} shared faces (96x96 JPEG) -> {args.output_size}x{args.output_size}, "
          f"batch {args.batch_size}, {args.precision} training; uint8 cache {cache_mb:.1f} MB")
    print_table(["stage", "images/s", "vs training consumption"], [
        ["decode+crop+resize into the cache (once)", f"{decode_rate:.0f}",
         f"{decode_rate / train_rate:.1f}x"],
        ["feed: shuffle+gather+batch+to float (every step)", f"{feed_rate:.0f}",
         f"{feed_rate / train_rate:.1f}x"],
        ["training consumption (1 D + 2 G updates)", f"{train_rate:.1f}", "1.0x"]])
    print(machine_line())


if __name__ == "__main__":
    main()
