"""Where a training iteration's time goes: TensorFlow step stats, summed per op type.

    python bench/profile_step.py                      # fp32, 48x48, batch 64
    python bench/profile_step.py --precision bf16 --iterations 3
    python bench/profile_step.py --sampler            # the sampler alone (generation)
    python bench/profile_step.py --recipe fast        # the default recipe's iteration

Runs the project's real training iteration (carpedm20's 1 D + 2 G updates, or `--recipe`'s)
with full tracing and sums each
op type's compute time over the traced runs (ops on two threads overlap, so the column can add
up to more than the wall time). Casts show what the bf16 rewrite adds. `--sampler` traces the
sampler (batch-norm moving averages, no training) on a batch of latent vectors instead.
"""

import argparse
import collections
import time

import numpy
from common import machine_line, print_table, project_trainer, scratch_faces, scratch_folder


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sampler", action="store_true", help="trace generation, not training")
    parser.add_argument("--recipe", default="carpedm20", choices=("carpedm20", "fast"),
                        help="the training recipe (and its G kernels) whose iteration is traced")
    return parser.parse_args()


def _op_type(node_stats):
    # timeline_label looks like "name = OpType(inputs)"; fall back to the node name.
    label = node_stats.timeline_label
    if " = " in label:
        return label.split(" = ", 1)[1].split("(", 1)[0]
    return node_stats.node_name.split(":")[0]


def _traced_runs(args, trainer, gan):
    """(fetch, feed) pairs of one unit of work: a training iteration or one sampler batch."""
    if args.sampler:
        latent = numpy.random.default_rng(0).uniform(-1, 1, (args.batch_size,
                                                             gan.sampler.cfg.z_dim))
        return [(gan.sampler.images, gan.sampler.feed(latent.astype(numpy.float32)))]
    return [(op, None) for op in [gan.d_optim] + [gan.g_optim] * trainer.settings.g_steps]


def main():
    """Trace a few iterations and print the per-op-type table."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    args = _parse()
    print(machine_line())
    with scratch_folder("profile_step") as scratch:
        scratch_faces(scratch, 640, args.output_size)
        trainer, session = project_trainer(scratch, args.precision, args.batch_size,
                                           args.output_size, recipe=args.recipe)
        gan = trainer.graph.gan
        for step in range(2):
            trainer.step(session, step, None)
        runs = _traced_runs(args, trainer, gan)
        for fetch, feed in runs:
            session.run(fetch, feed)  # the first run of a fetch optimises its graph
        options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
        per_type = collections.Counter()
        wall = 0.0
        for _ in range(args.iterations):
            start = time.perf_counter()
            for fetch, feed in runs:
                metadata = tf1.RunMetadata()
                session.run(fetch, feed, options=options, run_metadata=metadata)
                for device in metadata.step_stats.dev_stats:
                    for node in device.node_stats:
                        micros = node.op_end_rel_micros - node.op_start_rel_micros
                        per_type[_op_type(node)] += micros / 1e6
            wall += time.perf_counter() - start
    total = sum(per_type.values())
    rows = [[name, f"{seconds / args.iterations:.4f}", f"{100 * seconds / total:.1f}%"]
            for name, seconds in per_type.most_common(args.top)]
    unit = "sampler batch" if args.sampler else "iteration"
    print(f"\n{args.recipe}, {args.precision}, {args.output_size}x{args.output_size}, "
          f"batch {args.batch_size}, per {unit}: {wall / args.iterations:.3f} s traced "
          f"(tracing adds overhead); op time summed {total / args.iterations:.3f} s")
    print_table(["op type", f"s per {unit}", "share"], rows)
    print(machine_line())


if __name__ == "__main__":
    main()
