"""The learning curves of bench/quality.py as one picture: SWD against steps (or minutes) per
contender, as an SVG file (text: it shows on GitHub and in any browser, and needs no plotting
library).

    python bench/quality_plot.py --work ~/curves --out docs/images/curves.svg
    python bench/quality_plot.py --work ~/curves --out curves.svg --faces all --upto 3000
    python bench/quality_plot.py --work ~/curves --out min.svg --cpu "Intel(R) Xeon(R) Processor"
    python bench/quality_plot.py --points bench/curves.csv --work ~/curves --faces all \
        --save_points bench/curves.csv --out docs/images/curves.svg

Each contender's line joins the mean over its seeds at each scored step; each seed's own points
are drawn as dots, so the seed noise shows. The dashed line is the real-vs-real floor (two sets
of real held-out faces scored against each other). With `--cpu`, the x axis is minutes on that
CPU: each contender's steps times its seconds per iteration recorded by quality.py's speed bench
(a contender without a recorded speed there is left out, and named).

A work folder lives on one machine; `--save_points` keeps the plotted points (after `--rename`)
in a CSV file in the repository (bench/curves.csv), and `--points` draws them again beside a new
work folder's, so the plot outlives the machine that measured its curves.
"""

import argparse
import csv
import io
import sys
from xml.sax.saxutils import escape

from quality import Work
from quality_tables import load_points, mean_curves

from dcgan import durable

WIDTH, HEIGHT = 840, 440
LEFT, RIGHT, TOP, BOTTOM = 60, 330, 20, 50  # the margins around the plotting area
# Distinguishable on white and for the common colour-vision deficiencies (Okabe and Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442", "#882255")
# The columns of a --points file: one scored checkpoint per row.
POINT_COLUMNS = ("curve", "faces", "seed", "step", "swd", "swd_floor")


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", help="a bench/quality.py --work folder")
    parser.add_argument("--points", help="a CSV file of points kept by --save_points (e.g. "
                        "bench/curves.csv), drawn with the --work folder's")
    parser.add_argument("--save_points", help="write the plotted points to this CSV file")
    parser.add_argument("--out", required=True, help="the SVG file to write")
    parser.add_argument("--faces", help="only the curves trained on these faces (e.g. all, "
                        "1000, small500); default: every curve")
    parser.add_argument("--upto", type=int, help="only the steps up to this one")
    parser.add_argument("--cpu", help="x axis in minutes on this CPU (a name in the work "
                        "folder's speed.json)")
    parser.add_argument("--precision", default="bf16", help="with --cpu: whose seconds per "
                        "iteration (bf16 or fp32)")
    parser.add_argument("--rename", action="append", default=[], help="'FLAGS=>LEGEND': the "
                        "legend of the contender trained with FLAGS (repeat it), e.g. for a "
                        "curve whose flags meant something else when it was trained")
    return parser.parse_args(argv)


def _nice_top(value):
    """A round number at or above `value` for the end of an axis."""
    scale = 10 ** (len(str(int(max(value, 1)))) - 1)
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * scale:
            return step * scale
    return value


def _ticks(top, count=5):
    return [top * i / count for i in range(count + 1)]


def _seconds_per_iteration(work, cpu, precision):
    """{contender label: seconds per iteration} recorded for `cpu` in `precision`."""
    entries = work.speeds().get(cpu)
    if entries is None:
        sys.exit(f"error: no speed recorded for {cpu!r} in {work.folder}: one of "
                 f"{', '.join(work.speeds()) or '(none)'}")
    speeds = {}
    for name, speed in entries.items():
        label, measured_in = name.rsplit(" | ", 1)
        if measured_in == precision:
            speeds[label] = speed["s_per_iteration"]
    return speeds


def read_points(path):
    """The points of a CSV file written by --save_points, as load_points gives a work folder's:
    each curve's legend stands for its flags and contender."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(POINT_COLUMNS) - set(rows[0]):
        sys.exit(f"error: {path} lacks the columns {', '.join(POINT_COLUMNS)}")
    return [{"flags": row["curve"], "contender": row["curve"], "faces": row["faces"],
             "seed": int(row["seed"]), "step": int(row["step"]), "swd_avg": float(row["swd"]),
             "swd_floor_avg": float(row["swd_floor"])} for row in rows]


def points_csv(points):
    """The CSV text of `points`, one row per curve, seed and step."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(POINT_COLUMNS)
    for point in sorted(points, key=_point_key):
        writer.writerow([*_point_key(point), f"{point['swd_avg']:.1f}",
                         f"{point['swd_floor_avg']:.1f}"])
    return text.getvalue()


def _point_key(point):
    return point["flags"], point["faces"], point["seed"], point["step"]


def merged_points(kept, measured, legends):
    """The points of `kept` (a --points file's) and `measured` (a work folder's), each under
    its legend (`legends` maps flags to legends: the flags of a kept point are its legend
    already); a measured point replaces a kept one of the same curve, seed and step."""
    merged = {}
    for point in [*kept, *measured]:
        point = {**point, "flags": legends.get(point["flags"], point["flags"])}
        merged[_point_key(point)] = point
    return list(merged.values())


def curves_to_plot(points, x_of):
    """[(legend, [(x, mean SWD)], [(x, one seed's SWD)])] per contender (its flags are its
    legend), in legend order; `x_of(point)` gives a point's x or None to leave its contender
    out."""
    plotted = []
    for (faces, flags), curve in sorted(mean_curves(points, ["swd_avg"]).items()):
        own = [p for p in points if (p["faces"], p["flags"]) == (faces, flags)]
        if x_of(own[0]) is None:
            continue
        legend = flags if faces == "all" else f"{flags} ({faces} faces)"
        seeds = {p["seed"] for p in own}
        if len(seeds) > 1:
            legend += f", {len(seeds)} seeds"
        line = [(x_of({**own[0], "step": step}), values["swd_avg"])
                for step, values in curve.items()]
        dots = [(x_of(p), p["swd_avg"]) for p in own]
        plotted.append((legend, line, dots))
    return plotted


def svg(plotted, floor, x_title):
    """The SVG text of the plot."""
    x_top = _nice_top(max(x for _, line, _ in plotted for x, _ in line))
    y_top = _nice_top(max(y for _, _, dots in plotted for _, y in dots))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x, y):
        return f"{LEFT + x / x_top * inner_w:.1f},{TOP + inner_h - y / y_top * inner_h:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    for tick in _ticks(y_top):
        parts.append(f'<polyline points="{at(0, tick)} {at(x_top, tick)}" stroke="#ddd"/>')
        x, y = at(0, tick).split(",")
        parts.append(f'<text x="{float(x) - 6}" y="{float(y) + 4}" text-anchor="end">'
                     f'{tick:g}</text>')
    for tick in _ticks(x_top):
        x, y = at(tick, 0).split(",")
        parts.append(f'<text x="{x}" y="{float(y) + 18}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<polyline points="{at(0, y_top)} {at(0, 0)} {at(x_top, 0)}" fill="none" '
                 'stroke="black"/>')
    parts.append(f'<text x="{LEFT + inner_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">'
                 f'{escape(x_title)}</text>')
    parts.append(f'<text transform="translate(16,{TOP + inner_h / 2}) rotate(-90)" '
                 'text-anchor="middle">SWD x 1e3 against held-out faces (lower is better)</text>')
    parts.append(f'<polyline points="{at(0, floor)} {at(x_top, floor)}" stroke="#888" '
                 'stroke-dasharray="5,4"/>')
    parts.append(f'<text x="{LEFT + inner_w + 8}" y="{at(x_top, floor).split(",")[1]}" '
                 f'fill="#888">real-vs-real floor {floor:.1f}</text>')
    for index, (legend, line, dots) in enumerate(plotted):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<polyline points="{" ".join(at(x, y) for x, y in line)}" fill="none" '
                     f'stroke="{colour}" stroke-width="2"/>')
        for x, y in dots:
            cx, cy = at(x, y).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
        legend_y = TOP + 14 + 18 * index
        parts.append(f'<rect x="{LEFT + inner_w + 8}" y="{legend_y - 9}" width="14" height="4" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{LEFT + inner_w + 28}" y="{legend_y - 3}">{escape(legend)}'
                     '</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _x_axis(args, work, points):
    """(x_of, the x axis's title): steps, or with --cpu minutes on that CPU."""
    if not args.cpu:
        return (lambda point: point["step"]), "training steps (batch 64)"
    speeds = _seconds_per_iteration(work, args.cpu, args.precision)
    missing = sorted({p["contender"] for p in points} - set(speeds))
    if missing:
        print(f"left out (no {args.precision} speed on this CPU): {', '.join(missing)}")

    def x_of(point):
        seconds = speeds.get(point["contender"])
        return None if seconds is None else point["step"] * seconds / 60

    return x_of, f"training minutes on {args.cpu} ({args.precision}, 2 cores)"


def main(argv=None):
    """Write the SVG of the learning curves of the --work folder and the --points file."""
    args = _parse(argv)
    if not (args.work or args.points):
        sys.exit("error: give --work, --points or both")
    if args.cpu and not args.work:
        sys.exit("error: --cpu reads the speeds of a --work folder: give one")
    renames = [text.split("=>", 1) for text in args.rename]
    if any(len(pair) != 2 for pair in renames):
        sys.exit("error: --rename takes FLAGS=>LEGEND")
    work = Work(args.work) if args.work else None
    every = merged_points(read_points(args.points) if args.points else [],
                          load_points(work) if work else [], dict(renames))
    if args.save_points:  # every point, whatever --faces and --upto draw
        durable.write_atomically(args.save_points, points_csv(every).encode())
        print(f"wrote {args.save_points}: {len(every)} points")
    points = [p for p in every if (args.faces is None or p["faces"] == args.faces)
              and (args.upto is None or p["step"] <= args.upto)]
    if not points:
        sys.exit("error: no scored point matches: run bench/quality.py first")
    x_of, x_title = _x_axis(args, work, points)
    plotted = curves_to_plot(points, x_of)
    if not plotted:
        sys.exit("error: no contender has a speed recorded on that CPU")
    floor = points[0]["swd_floor_avg"]
    durable.write_atomically(args.out, svg(plotted, floor, x_title).encode())
    print(f"wrote {args.out}: {len(plotted)} curves")


if __name__ == "__main__":
    main()
