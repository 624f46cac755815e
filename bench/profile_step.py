"""Where a training iteration's time goes: TensorFlow step stats, summed per op type.

    python bench/profile_step.py                      # fp32, 48x48, batch 64
    python bench/profile_step.py --precision bf16 --iterations 3

Runs the project's real training iteration (1 D + 2 G updates) with full tracing and sums each
op type's compute time over the traced runs (ops on two threads overlap, so the column can add
up to more than the wall time). Casts show what the bf16 rewrite adds.
"""

import argparse
import collections
import tempfile
import time

from common import machine_line, print_table, project_trainer, scratch_faces


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    return parser.parse_args()


def _op_type(node_stats):
    # timeline_label looks like "name = OpType(inputs)"; fall back to the node name.
    label = node_stats.timeline_label
    if " = " in label:
        return label.split(" = ", 1)[1].split("(", 1)[0]
    return node_stats.node_name.split(":")[0]


def main():
    """Trace a few iterations and print the per-op-type table."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    args = _parse()
    print(machine_line())
    with tempfile.TemporaryDirectory() as scratch:
        scratch_faces(scratch, 640, args.output_size)
        trainer, session = project_trainer(scratch, args.precision, args.batch_size,
                                           args.output_size)
        gan = trainer.parts.gan
        for step in range(2):
            trainer._iteration(session, step, None)
        options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
        per_type = collections.Counter()
        wall = 0.0
        for _ in range(args.iterations):
            start = time.perf_counter()
            for op in [gan.d_optim] + [gan.g_optim] * trainer.settings.g_steps:
                metadata = tf1.RunMetadata()
                session.run(op, options=options, run_metadata=metadata)
                for device in metadata.step_stats.dev_stats:
                    for node in device.node_stats:
                        micros = node.op_end_rel_micros - node.op_start_rel_micros
                        per_type[_op_type(node)] += micros / 1e6
            wall += time.perf_counter() - start
    total = sum(per_type.values())
    rows = [[name, f"{seconds / args.iterations:.3f}", f"{100 * seconds / total:.1f}%"]
            for name, seconds in per_type.most_common(args.top)]
    print(f"\n{args.precision}, {args.output_size}x{args.output_size}, batch {args.batch_size}: "
          f"{wall / args.iterations:.2f} s/iteration traced (tracing adds overhead); op time "
          f"summed {total / args.iterations:.2f} s/iteration")
    print_table(["op type", "s/iteration", "share"], rows)
    print(machine_line())


if __name__ == "__main__":
    main()
