"""Where a multi-worker iteration's time goes: CPU time per thread and a traced iteration, for
1 worker alone, 2 independent workers at once (no communication), and a 2-worker job.

    python bench/distributed_profile.py                          # README's size: 48 px, 32/worker
    python bench/distributed_profile.py --precision auto --steps 6

Each contender runs the project's real trainer as `distributed_speed.py` does (one intra- and
one inter-op thread per process, fresh processes on 127.0.0.1). Per worker it reports

- seconds per iteration (wall), and the CPU seconds per iteration of each group of threads
  (read from /proc/self/task: TensorFlow's compute threads, gRPC's, tf.data's, Python's), so
  a transport that takes CPU from the computation shows as CPU time, not as a guess;
- one traced iteration (RunOptions FULL_TRACE): the time the collective ops span and the time
  every other op computes (summed; one inter-op thread runs one op at a time).

"pair" is two `--distribute none` processes started together: what two workers cost each other
through the shared cores and caches alone. "multi" minus "pair" is what the communication costs.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import time

from common import machine_line, print_table, scratch_faces, scratch_folder
from distributed_speed import WARMUP, _settings, parse_work

CONTENDERS = {"single": 1, "pair": 2, "multi": 2}
COLLECTIVE_OPS = ("CollectiveReduce", "CollectiveGather", "CollectiveBcast")


def _clock_ticks():
    return os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds():
    """{thread name: CPU seconds so far} of this process's threads, from /proc/self/task
    (threads named alike, but for a number, summed: the main thread is "python")."""
    totals = collections.Counter()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as handle:
                name = handle.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        totals[name.rstrip("0123456789")] += (int(fields[11]) + int(fields[12])) / _clock_ticks()
    return totals


def _op_type(node):
    label = node.timeline_label
    return label.split(" = ", 1)[1].split("(", 1)[0] if " = " in label else node.node_name


def traced_iteration(trainer, session):
    """One traced iteration: {"compute_s": every non-collective op's seconds summed,
    "wall_s": its seconds, "collectives": [[run, node, start us, end us], ...]} (wall-clock
    microseconds, comparable between the processes of one machine)."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    gan = trainer.graph.gan
    options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE, timeout_in_ms=300_000)
    compute, collectives = 0.0, []
    started = time.perf_counter()
    for run, op in enumerate([gan.d_optim] + [gan.g_optim] * trainer.settings.g_steps):
        metadata = tf1.RunMetadata()
        session.run(op, options=options, run_metadata=metadata)
        for device in metadata.step_stats.dev_stats:
            for node in device.node_stats:
                micros = node.op_end_rel_micros - node.op_start_rel_micros
                if _op_type(node).startswith(COLLECTIVE_OPS):
                    start = node.all_start_micros + node.op_start_rel_micros
                    collectives.append([run, node.node_name, start, start + micros])
                else:
                    compute += micros / 1e6
    return {"compute_s": compute, "wall_s": time.perf_counter() - started,
            "collectives": collectives}


def _union_seconds(spans):
    """Seconds covered by the union of (start, end) microsecond spans."""
    covered, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            covered += end - start
            reach = end
        elif end > reach:
            covered += end - reach
            reach = end
    return covered / 1e6


def worker_main(args):
    """One worker process: print its measurement as a JSON line."""
    from dcgan import cluster, distribute, outputs, runtime, train

    runtime.start()
    kind = "multi_worker" if args.mode == "multi" else "none"
    workers = CONTENDERS[args.mode] if kind == "multi_worker" else 1
    # A job's workers share their folders; the pair's processes are separate runs.
    scratch = os.path.join(args.scratch, f"pair_{args.index}" if args.mode == "pair" else "")
    if args.mode == "pair":
        os.makedirs(scratch)
        os.symlink(os.path.join(args.scratch, "data"), os.path.join(scratch, "data"))
    settings = _settings(scratch, kind, args.batch * workers, args.size, args.precision)
    make = train.Trainer if kind == "none" else distribute.DistributedTrainer
    if cluster.writes_outputs(kind):
        outputs.make_output_folders(settings)
    trainer = make(settings, progress=False)
    session, _ = trainer.open_session()
    stop = train.StopRequest()
    for step in range(WARMUP):
        trainer.stop_now(session, stop)
        trainer.step(session, step)
    cpu_before, started = thread_cpu_seconds(), time.perf_counter()
    for step in range(WARMUP, WARMUP + args.steps):
        trainer.stop_now(session, stop)
        trainer.step(session, step)
    wall = (time.perf_counter() - started) / args.steps
    cpu = {group: (seconds - cpu_before[group]) / args.steps
           for group, seconds in thread_cpu_seconds().items()}
    traced = traced_iteration(trainer, session)
    if getattr(trainer, "watchdog", None) is not None:
        trainer.watchdog.stop()
    print(json.dumps({"step_s": wall, "cpu_s": {k: v for k, v in cpu.items() if v > 0.001},
                      "traced": traced}), flush=True)


def _launch(mode, args, scratch):
    """Run one contender's processes at once; returns every process's JSON result."""
    from dcgan import cluster

    count = CONTENDERS[mode]
    ports = cluster.free_local_ports(count)
    processes = []
    for index in range(count):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        if mode == "multi":
            env["TF_CONFIG"] = cluster.local_tf_config(ports, index)
        processes.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", mode, "--index", str(index), "--scratch",
             scratch, "--steps", str(args.steps), "--batch", str(args.batch), "--size",
             str(args.size), "--precision", args.precision], env=env, stdout=subprocess.PIPE,
            text=True))
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    if any(p.returncode for p in processes):
        sys.exit(f"{mode} failed (exit {[p.returncode for p in processes]})")
    return [json.loads(text.strip().splitlines()[-1]) for text in outputs]


def collective_times(result):
    """(seconds worker 0's collectives span, seconds from the moment both workers had started
    a collective to its end on both), summed over one traced iteration; (0, 0) without
    collectives. The difference is worker 0 waiting for its peer to arrive."""
    by_key = collections.defaultdict(list)
    for process in result:
        for run, node, start, end in process["traced"]["collectives"]:
            by_key[run, node].append((start, end))
    if not by_key:
        return 0.0, 0.0
    own = [(run, spans[0]) for (run, _), spans in by_key.items()]
    shared = [(run, (max(s for s, _ in spans), max(e for _, e in spans)))
              for (run, _), spans in by_key.items()]
    return _per_run_union(own), _per_run_union(shared)


def _per_run_union(spans):
    runs = collections.defaultdict(list)
    for run, span in spans:
        runs[run].append(span)
    return sum(_union_seconds(run_spans) for run_spans in runs.values())


def _print(results, args):
    """One row per contender; traces and CPU times are the first process's."""
    names = collections.Counter()
    for result in results.values():
        names.update(result[0]["cpu_s"])
    shown = [name for name, _ in names.most_common(6)]
    rows = []
    for mode, result in results.items():
        first = result[0]
        span, transfer = collective_times(result)
        rows.append([mode, " / ".join(f"{r['step_s']:.3f}" for r in result),
                     f"{first['traced']['wall_s']:.3f}", f"{first['traced']['compute_s']:.3f}",
                     f"{span:.3f}", f"{transfer:.3f}", f"{sum(first['cpu_s'].values()):.3f}"]
                    + [f"{first['cpu_s'].get(name, 0.0):.3f}" for name in shown])
    print_table(["contender", "s/iteration (each process)", "traced iteration s",
                 "op compute s", "collectives span s", "of which both in s", "CPU s"]
                + [f"CPU s: {name}" for name in shown], rows)
    print(f"{args.size} px, {args.batch} images per worker per step, --precision "
          f"{args.precision}, {args.steps} timed iterations; CPU per iteration and one traced "
          "iteration of the first process")


def main():
    """Run the contenders one after the other and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="timed iterations per run")
    parser.add_argument("--only", choices=sorted(CONTENDERS), action="append",
                        help="run only these contenders (repeatable)")
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parse_work(parser, batch=32, size=48, faces=256, worker_main=worker_main)
    if args is None:
        return
    print(machine_line())
    with scratch_folder("distributed_profile") as scratch:
        scratch_faces(scratch, args.faces, args.size)
        results = {mode: _launch(mode, args, scratch) for mode in args.only or CONTENDERS}
    _print(results, args)
    print(machine_line())


if __name__ == "__main__":
    main()
