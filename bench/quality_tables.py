"""The tables of bench/quality.py, read from its --work folder (no TensorFlow needed).

- curves: every scored point of every run (SWD, NDB/K, MS-SSIM beside their real-vs-real
  floors, and the point's grid);
- seeds: with two seeds or more, each contender's mean and spread between seeds per step;
- bf16 vs fp32: where a contender was trained in both precisions, the gap between the two
  mean curves at each step beside the seed spread and the SWD floor;
- minutes: per CPU whose speed is recorded, each contender's step at 10 and 20 minutes (or
  --minutes) and its scores there, interpolated linearly between the scored steps.
"""

import fnmatch
import itertools
import json
import os
from collections import defaultdict

from common import print_table

METRICS = (("SWD", "swd_avg", "swd_floor_avg", "{:.1f}"),
           ("NDB/K", "ndb_over_k", "ndb_over_k_floor", "{:.3f}"),
           ("MS-SSIM", "ms_ssim_fake", "ms_ssim_real", "{:.3f}"))


def _files(folder, pattern):
    """Paths in `folder` matching the glob `pattern`, sorted."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(folder, name) for name in fnmatch.filter(names, pattern))


def load_points(work):
    """One dict per scored checkpoint: the run's record (contender, flags, precision, seed,
    faces), its step, the `--evaluate` numbers and the grid's path (or '-')."""
    points = []
    for run, record in sorted(work.runs().items()):
        for path in _files(work.path("scores", run), "eval_*.json"):
            with open(path) as handle:
                result = json.load(handle)
            grids = _files(work.path("grids", run), f"grid_{result['step']:05d}_*.png")
            grid = os.path.relpath(grids[0], work.folder) if grids else "-"
            points.append({**record, **result, "run": run, "grid": grid})
    return points


def _curve_key(point):
    return point["faces"], point["flags"]


def mean_curves(points, names=None):
    """{(faces, flags): {step: {metric key: mean over seeds}}}, for the metric keys `names`
    (default: every metric of METRICS and its floor)."""
    names = names or [name for _, fake, floor, _ in METRICS for name in (fake, floor)]
    grouped = defaultdict(lambda: defaultdict(list))
    for point in points:
        grouped[_curve_key(point)][point["step"]].append(point)
    return {key: {step: {name: sum(p[name] for p in at) / len(at) for name in names}
                  for step, at in sorted(steps.items())}
            for key, steps in grouped.items()}


def curve_rows(points):
    """The curves table: one row per run and scored step."""
    rows = []
    for point in sorted(points, key=lambda p: (_curve_key(p), p["seed"], p["step"])):
        cells = [point["faces"], point["flags"], point["seed"], point["step"]]
        for _, fake, floor, form in METRICS:
            cells += [form.format(point[fake]), form.format(point[floor])]
        rows.append([*cells, point["grid"]])
    return rows


def seed_rows(points):
    """Mean and spread (largest minus smallest) between seeds, per contender and step, where
    a step has two seeds or more."""
    grouped = defaultdict(list)
    for point in points:
        grouped[(*_curve_key(point), point["step"])].append(point)
    rows = []
    for (faces, flags, step), at in sorted(grouped.items()):
        if len(at) < 2:
            continue
        cells = [faces, flags, step, len(at)]
        for _, fake, _, form in METRICS:
            values = [p[fake] for p in at]
            cells += [form.format(sum(values) / len(values)),
                      form.format(max(values) - min(values))]
        rows.append(cells)
    return rows


def agreement_rows(points):
    """bf16 vs fp32 at equal steps, per contender trained in both: the mean SWD of each, the
    gap, the largest seed spread of either and the SWD floor, and whether the gap is within
    them."""
    grouped = defaultdict(lambda: defaultdict(list))
    for point in points:
        if point.get("precision"):
            grouped[(point["faces"], point["contender"], point["step"])][
                point["precision"]].append(point["swd_avg"])
    floors = {p["step"]: p["swd_floor_avg"] for p in points}
    rows = []
    for (faces, label, step), by in sorted(grouped.items()):
        if not {"fp32", "bf16"} <= set(by):
            continue
        means = {p: sum(v) / len(v) for p, v in by.items()}
        spread = max(max(v) - min(v) for v in by.values())
        gap = means["bf16"] - means["fp32"]
        noise = max(spread, floors[step])
        rows.append([faces, label, step, f"{means['fp32']:.1f}", f"{means['bf16']:.1f}",
                     f"{gap:+.1f}", f"{spread:.1f}" if min(map(len, by.values())) > 1 else "-",
                     f"{floors[step]:.1f}", "yes" if abs(gap) <= noise else "NO"])
    return rows


def interpolate(curve, step, key):
    """The value of `key` at `step` on a curve {step: values}, linear between its scored
    steps; None outside them."""
    steps = sorted(curve)
    if not steps or step < steps[0] or step > steps[-1]:
        return None
    for low, high in itertools.pairwise(steps):
        if low <= step <= high:
            share = (step - low) / (high - low)
            return curve[low][key] + share * (curve[high][key] - curve[low][key])
    return curve[steps[-1]][key]


def _at(curve, step):
    """The cells of the scores at `step`, or one word for a step outside the curve."""
    if step < min(curve):
        return ["before the first mark"] + ["-"] * (len(METRICS) - 1)
    if step > max(curve):
        return [f"past the last mark ({max(curve)})"] + ["-"] * (len(METRICS) - 1)
    return [form.format(interpolate(curve, step, fake)) for _, fake, _, form in METRICS]


def minute_rows(points, speeds, minutes):
    """Per CPU and contender (and precision): seconds per iteration, then for each of
    `minutes` the step reached and the mean curve's scores there. A contender's curve serves
    every precision it was not trained in apart (the bf16 check says whether it may)."""
    curves = mean_curves(points)
    labels = {_curve_key(p): (p["contender"], p.get("precision")) for p in points}
    rows = []
    for cpu, entries in sorted(speeds.items()):
        for key, curve in sorted(curves.items()):
            label, trained_in = labels[key]
            for name, speed in sorted(entries.items()):
                speed_label, precision = name.rsplit(" | ", 1)
                if speed_label != label or trained_in not in (None, precision):
                    continue
                seconds = speed["s_per_iteration"]
                cells = [cpu, key[0], label, precision, f"{seconds:.3f}"]
                for minute in minutes:
                    step = int(minute * 60 / seconds)
                    cells += [step, *_at(curve, step)]
                rows.append(cells)
    return rows


def _floors(points):
    """One line with the real-vs-real floors (the same held-out sets at every point)."""
    if not points:
        return "no scored point yet"
    point = points[0]
    return "real-vs-real floors: " + ", ".join(
        f"{name} {form.format(point[floor])}" for name, _, floor, form in METRICS)


def print_tables(work, minutes):
    """Print every table the work folder has the measurements for."""
    points = load_points(work)
    print(f"\nlearning curves in {work.folder}/ ({_floors(points)}):")
    header = ["faces", "contender", "seed", "step"]
    for name, _, _, _ in METRICS:
        header += [name, f"{name} floor" if name != "MS-SSIM" else "MS-SSIM real"]
    print_table([*header, "grid"], curve_rows(points))
    rows = seed_rows(points)
    if rows:
        print("\nbetween seeds (mean, and largest minus smallest):")
        print_table(["faces", "contender", "step", "seeds",
                     *[f"{name} {what}" for name, *_ in METRICS for what in ("mean", "spread")]],
                    rows)
    rows = agreement_rows(points)
    if rows:
        print("\nbf16 vs fp32 at equal steps (SWD means over seeds; within: the gap is at most "
              "the larger of the seed spread and the real-vs-real floor):")
        print_table(["faces", "contender", "step", "fp32 SWD", "bf16 SWD", "bf16 - fp32",
                     "seed spread", "SWD floor", "within"], rows)
    rows = minute_rows(points, work.speeds(), minutes)
    if rows:
        print("\nby training minutes (steps = minutes x 60 / s per iteration on that CPU; "
              "scores interpolated between the scored steps):")
        header = ["CPU", "faces", "contender", "precision", "s/iteration"]
        for minute in minutes:
            header += [f"step at {minute:g} min",
                       *[f"{name} at {minute:g} min" for name, *_ in METRICS]]
        print_table(header, rows)
