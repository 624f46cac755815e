"""The learning curves of bench/quality.py as one picture: SWD against steps (or minutes) per
contender, as an SVG file (text: it shows on GitHub and in any browser, and needs no plotting
library).

    python bench/quality_plot.py --work ~/curves --out docs/images/curves.svg
    python bench/quality_plot.py --work ~/curves --out curves.svg --faces all --upto 3000
    python bench/quality_plot.py --work ~/curves --out min.svg --cpu "Intel(R) Xeon(R) Processor"

Each contender's line joins the mean over its seeds at each scored step; each seed's own points
are drawn as dots, so the seed noise shows. The dashed line is the real-vs-real floor (two sets
of real held-out faces scored against each other). With `--cpu`, the x axis is minutes on that
CPU: each contender's steps times its seconds per iteration recorded by quality.py's speed bench
(a contender without a recorded speed there is left out, and named).
"""

import argparse
import sys
from xml.sax.saxutils import escape

from quality import Work
from quality_tables import load_points, mean_curves

from dcgan import durable

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 60, 250, 20, 50  # the margins around the plotting area
# Distinguishable on white and for the common colour-vision deficiencies (Okabe and Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="a bench/quality.py --work folder")
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


def curves_to_plot(points, x_of, legends=None):
    """[(legend, [(x, mean SWD)], [(x, one seed's SWD)])] per contender, in legend order;
    `x_of(point)` gives a point's x or None to leave its contender out; `legends` maps a
    contender's flags to the legend shown instead of them."""
    labels = {(p["faces"], p["flags"]): p for p in points}
    plotted = []
    for key, curve in sorted(mean_curves(points).items()):
        sample = labels[key]
        if x_of(sample) is None:
            continue
        legend = (legends or {}).get(sample["flags"], sample["flags"])
        if key[0] != "all":
            legend += f" ({key[0]} faces)"
        seeds = sorted({p["seed"] for p in points if (p["faces"], p["flags"]) == key})
        if len(seeds) > 1:
            legend += f", {len(seeds)} seeds"
        line = [(x_of({**sample, "step": step}), values["swd_avg"])
                for step, values in sorted(curve.items())]
        dots = [(x_of(p), p["swd_avg"]) for p in points if (p["faces"], p["flags"]) == key]
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


def main(argv=None):
    """Write the SVG of the --work folder's learning curves."""
    args = _parse(argv)
    work = Work(args.work)
    points = [p for p in load_points(work)
              if (args.faces is None or p["faces"] == args.faces)
              and (args.upto is None or p["step"] <= args.upto)]
    if not points:
        sys.exit(f"error: no scored point in {work.folder} matches: run bench/quality.py first")
    if args.cpu:
        speeds = _seconds_per_iteration(work, args.cpu, args.precision)
        missing = sorted({p["contender"] for p in points} - set(speeds))
        if missing:
            print(f"left out (no {args.precision} speed on this CPU): {', '.join(missing)}")

        def x_of(point):
            seconds = speeds.get(point["contender"])
            return None if seconds is None else point["step"] * seconds / 60

        x_title = f"training minutes on {args.cpu} ({args.precision}, 2 cores)"
    else:
        def x_of(point):
            return point["step"]

        x_title = "training steps (batch 64)"
    renames = [text.split("=>", 1) for text in args.rename]
    if any(len(pair) != 2 for pair in renames):
        sys.exit("error: --rename takes FLAGS=>LEGEND")
    plotted = curves_to_plot(points, x_of, dict(renames))
    if not plotted:
        sys.exit("error: no contender has a speed recorded on that CPU")
    floor = points[0]["swd_floor_avg"]
    durable.write_atomically(args.out, svg(plotted, floor, x_title).encode())
    print(f"wrote {args.out}: {len(plotted)} curves")


if __name__ == "__main__":
    main()
