"""Each convolution kernel of one training iteration alone, fp32 vs bf16: where bf16 falls short.

    python bench/conv_kernels.py                     # carpedm20's 48x48 layers, batch 64
    python bench/conv_kernels.py --transposed        # G's layers: native vs sub-pixel

For every 5x5 stride-2 layer shape of the 48x48 model, times the three convolutions training
runs (forward, input gradient = the generator's transposed convolution, weight gradient) in
fp32 and bf16 through TensorFlow's oneDNN kernels, plus the weight gradient as one patch matmul
(what `dcgan.ops.matmul_filter_gradients` builds for bf16 training), each in its own graph, in
turns. Rates are against the matmul peaks measured in the same run. The sum over an iteration
(each shape's kernels weighted by how often one iteration runs them) bounds what any change
outside the kernels can reach.

`--transposed` checks, then times, G's four transposed convolutions as training runs them (forward,
and forward with the gradients to input and filter; fp32 variables, and for bf16 the oneDNN
rewrite and `ops.built_for`, as a training session has them) two ways, in turns: TensorFlow's
conv2d_transpose (a backward-data kernel) and `subpixel_conv2d_transpose` below (a stride-1
forward convolution making the four output phases, then depth_to_space).
"""

import argparse
import time
import types

import numpy as np
from common import machine_line, median, print_table

# (input side, input channels, output channels) of the stride-2 layers of the 48x48 model:
# d_h0..d_h3, and g_h4..g_h1 run the same shapes transposed.
LAYERS = ((48, 3, 64), (24, 64, 128), (12, 128, 256), (6, 256, 512))
# How often one iteration (1 D + 2 G updates) runs each kernel per layer shape: forward = D's
# convolutions (real and fake towers + 2 G steps) and G's input gradients (2 G steps); input
# gradient = G's forward (3 updates) and D's input gradients (the D step's two towers inside D,
# not to the images + 2 G steps down to G); weight gradient = D (2 towers) + G (2 steps).
# The FLOPs of these runs add up to bench/flops.py's 198.1 GFLOP (with the linear layers).
RUNS_PER_ITERATION = {"forward": (6, 6, 6, 6), "input gradient": (5, 7, 7, 7),
                      "weight gradient": (4, 4, 4, 4)}
KERNEL, STRIDES = 5, [1, 2, 2, 1]
PATCH_MATMUL = "weight gradient as patch matmul"


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--transposed", action="store_true",
                        help="G's transposed convolutions: native vs sub-pixel")
    return parser.parse_args()


def _session(build, precision):
    """A session over a fresh graph holding `build()`'s fetch, configured as training configures
    its session for `precision`: for bf16 the oneDNN bf16 rewrite, without which TensorFlow runs
    even explicitly bfloat16 matmuls at half speed. Variables keep Grappler from folding the work
    away as constants."""
    import tensorflow as tf

    from dcgan.runtime import session_config

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        fetch = build()
        config = session_config(types.SimpleNamespace(
            precision=precision, intra_op_threads=0, inter_op_threads=0))
        session = tf1.Session(graph=graph, config=config)
        session.run(tf1.global_variables_initializer())
        session.run(fetch)
    return lambda: session.run(fetch)


def _variable_maker(precision, seed):
    """A function making random variables stored in `precision`'s type (so no run pays for a
    cast), and that type."""
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "bf16" else tf.float32
    rng = np.random.default_rng(seed)

    def variable(shape):
        return tf.compat.v1.Variable(tf.cast(rng.standard_normal(shape, np.float32), dtype))

    return variable, dtype


def _kernel(kind, precision, batch, side, in_dim, out_dim):
    import tensorflow as tf

    from dcgan import ops

    tf1 = tf.compat.v1
    variable, dtype = _variable_maker(precision, side)

    def build():
        images = variable([batch, side, side, in_dim])
        out_backprop = variable([batch, side // 2, side // 2, out_dim])
        filters = variable([KERNEL, KERNEL, in_dim, out_dim])
        if kind == "forward":
            out = tf.nn.conv2d(images, filters, STRIDES, "SAME")
        elif kind == "input gradient":
            out = tf1.nn.conv2d_backprop_input([batch, side, side, in_dim], filters, out_backprop,
                                               STRIDES, "SAME")
        elif kind == "weight gradient":
            out = tf1.nn.conv2d_backprop_filter(images, [KERNEL, KERNEL, in_dim, out_dim],
                                                out_backprop, STRIDES, "SAME")
        else:  # the patch matmul, whatever the layer's size
            out = ops.filter_gradient_by_matmul(images, out_backprop, filters.shape, STRIDES,
                                                dtype)
        return out.op  # run, not fetched: no copy of the result out of the graph

    return _session(build, precision)


def _matmul(precision, size=2048):
    import tensorflow as tf

    variable, _ = _variable_maker(precision, 0)

    def build():
        return tf.matmul(variable((size, size)), variable((size, size))).op

    return _session(build, precision), 2 * size ** 3


def main():
    """Time every kernel in both precisions and print the per-layer and per-iteration tables."""
    args = _parse()
    print(machine_line())
    if args.transposed:
        _transposed_main(args)
        print(machine_line())
        return
    precisions = ("fp32", "bf16")
    kinds = (*RUNS_PER_ITERATION, PATCH_MATMUL)
    work = {}
    for layer in LAYERS:
        for kind in kinds:
            for name in precisions:
                work[(layer, kind, name)] = _kernel(kind, name, args.batch_size, *layer)
    peaks = {}
    for name in precisions:
        run, flop = _matmul(name)
        peaks[name] = flop / min(_timed(run) for _ in range(5)) / 1e9
    times = {key: [] for key in work}
    for _ in range(args.rounds):
        for key, run in work.items():
            times[key].append(_timed(run))
    seconds = {key: median(values) for key, values in times.items()}
    _report(args, seconds, peaks)
    print(machine_line())


def subpixel_conv2d_transpose(x, w, output_hw):
    """A stride-2 SAME transposed convolution (k x k filter `w` [k, k, out, in], k = 5, 9, ...)
    as one stride-1 convolution producing the four output phases side by side, then
    depth_to_space: the sub-pixel identity.

    The lever of issue 20, kept here with its measurement rather than in dcgan/ops.py because
    it did not pay (bench/README.md, "Sub-pixel transposed convolutions"). The sums are the
    same products in another order, so output and gradients equal the native op's to float
    round-off (`_check_transposed` checks before timing); `w` is the layer's own [k, k, out, in]
    filter, gathered inside the graph, so it would need no new variable or checkpoint.

    Along each axis, output pixel 2a + b (phase b = 0, 1) sums k//2 + 1 input pixels centred
    on a, each times every second tap of the flipped kernel (from where the axis's SAME padding
    puts it; even and odd output sizes pad differently). Taps past the kernel's ends are zero.
    """
    import tensorflow as tf

    height, width = output_hw
    in_height, in_width = int(x.shape[1]), int(x.shape[2])
    kernel, out_dim, in_dim = int(w.shape[0]), int(w.shape[2]), int(w.shape[3])
    taps = kernel // 2 + 1  # odd for k = 5, 9, ...: a centred window, as SAME pads it
    # One gather builds the four phase filters: [taps, taps, 2, 2, out, in] from the kernel's
    # taps and a zero tap appended as the last row (one gather measured 9x faster than slices
    # of a flipped copy; its gradient is the same taps' gradients, each once).
    rows = _phase_taps(height, in_height, kernel)
    cols = _phase_taps(width, in_width, kernel)
    positions = np.where((rows[:, None, :, None] >= 0) & (cols[None, :, None, :] >= 0),
                         rows[:, None, :, None] * kernel + cols[None, :, None, :],
                         kernel * kernel).astype(np.int32)
    taps_and_zero = tf.pad(tf.reshape(w, [kernel * kernel, out_dim, in_dim]), [[0, 1], [0, 0],
                                                                              [0, 0]])
    # -> [taps, taps, in, (phase row, phase column, out)], the channel order depth_to_space reads.
    phase_filters = tf.reshape(
        tf.transpose(tf.gather(taps_and_zero, positions), [0, 1, 5, 2, 3, 4]),
        [taps, taps, in_dim, 4 * out_dim])
    phased = tf.nn.conv2d(x, phase_filters, strides=[1, 1, 1, 1], padding="SAME")
    deconv = tf.nn.depth_to_space(phased, 2)
    if (height, width) != (2 * in_height, 2 * in_width):  # odd sizes: the last row/column is
        deconv = deconv[:, :height, :width]               # padding
    return deconv


def _phase_taps(out_size, in_size, kernel):
    """[window pixel s, phase b] -> the kernel tap (-1: none) that output pixel 2a + b of an
    axis takes from window pixel a - k//4 + s in `subpixel_conv2d_transpose`."""
    if -(-out_size // 2) != in_size:
        raise ValueError(f"a stride-2 SAME transposed convolution of {in_size} pixels gives "
                         f"{2 * in_size - 1} or {2 * in_size}, not {out_size}")
    pad_before = max((in_size - 1) * 2 + kernel - out_size, 0) // 2
    window = np.arange(kernel // 2 + 1)[:, None]
    tap = np.arange(2)[None, :] + pad_before + kernel // 2 - 2 * window
    return np.where((tap >= 0) & (tap < kernel), tap, -1)


# How often one iteration runs each G layer: forward in the D step and both G steps; forward
# with both gradients in the two G steps (the D step's forward is part of neither G step).
TRANSPOSED_RUNS = {"forward": 1, "forward+gradients": 2}
TRANSPOSED_WAYS = ("native", "sub-pixel")


def _transposed(way, kind, precision, batch, side, in_dim, out_dim):
    """G's layer (in_dim channels at `side` -> out_dim at side/2, transposed: out_dim at side/2
    -> in_dim at `side`) computed `way`, built as training builds it for `precision`."""
    import tensorflow as tf

    from dcgan import ops

    rng = np.random.default_rng(side)

    def variable(shape):
        return tf.compat.v1.Variable(rng.standard_normal(shape, np.float32))

    def build():
        with ops.built_for(precision):
            inputs = variable([batch, side // 2, side // 2, out_dim])
            filters = variable([KERNEL, KERNEL, in_dim, out_dim])
            if way == "native":
                out = tf.nn.conv2d_transpose(inputs, filters, [batch, side, side, in_dim],
                                             STRIDES, "SAME")
            else:
                out = subpixel_conv2d_transpose(inputs, filters, (side, side))
            results = [out]
            if kind != "forward":
                out_backprop = variable([batch, side, side, in_dim])
                results += tf.gradients(out, [inputs, filters], out_backprop)
            # One element of each result is fetched, not the op: the bf16 rewrite leaves a
            # fetched node in float32, so fetching the convolution itself would time it in fp32.
            return [tf.reshape(result, [-1])[:1] for result in results]

    return _session(build, precision)


# (input size, output size) of transposed convolutions the models build: 48 px faces, MNIST's
# 28, odd sizes SAME padding rounds up (25 px: 4 -> 7 -> 13 -> 25), 16 px, one not square.
CHECKED_SIZES = (((3, 3), (6, 6)), ((24, 24), (48, 48)), ((7, 7), (14, 14)), ((4, 4), (7, 7)),
                 ((7, 7), (13, 13)), ((13, 13), (25, 25)), ((1, 1), (2, 2)), ((3, 6), (6, 11)))


def _check_transposed():
    """Stop unless the sub-pixel output and its gradients (to input and filter) equal
    conv2d_transpose's to float32 round-off at every size in CHECKED_SIZES; print the worst
    difference relative to the largest value."""
    import tensorflow as tf

    rng = np.random.default_rng(7)
    worst = 0.0
    for in_hw, out_hw in CHECKED_SIZES:
        with tf.Graph().as_default():
            x = tf.constant(rng.standard_normal((3, *in_hw, 6), np.float32))
            w = tf.constant(rng.standard_normal((KERNEL, KERNEL, 4, 6), np.float32))
            dy = tf.constant(rng.standard_normal((3, *out_hw, 4), np.float32))
            ways = [subpixel_conv2d_transpose(x, w, out_hw),
                    tf.nn.conv2d_transpose(x, w, [3, *out_hw, 4], STRIDES, "SAME")]
            with tf.compat.v1.Session() as session:
                got, expected = session.run([[y, *tf.gradients(y, [x, w], dy)] for y in ways])
        for a, b in zip(got, expected, strict=True):
            worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
    if worst > 1e-5:
        raise SystemExit(f"error: sub-pixel differs from conv2d_transpose by {worst:.1e}")
    print(f"sub-pixel == conv2d_transpose (output, input and filter gradients) at "
          f"{len(CHECKED_SIZES)} sizes: worst difference {worst:.1e} of the largest value")


def _transposed_main(args):
    """Check the identity, time G's transposed convolutions both ways, in turns, and print the
    comparison."""
    _check_transposed()
    keys = [(layer, kind, precision, way) for layer in LAYERS for kind in TRANSPOSED_RUNS
            for precision in ("fp32", "bf16") for way in TRANSPOSED_WAYS]
    work = {key: _transposed(key[3], key[1], key[2], args.batch_size, *key[0]) for key in keys}
    times = {key: [] for key in work}
    for _ in range(args.rounds):
        for key, run in work.items():
            times[key].append(_timed(run))
    seconds = {key: median(values) for key, values in times.items()}
    rows = []
    for layer in LAYERS:
        side, in_dim, out_dim = layer
        for kind in TRANSPOSED_RUNS:
            row = [f"{side // 2}x{side // 2}x{out_dim} -> {side}x{side}x{in_dim}", kind]
            for precision in ("fp32", "bf16"):
                native, subpixel = (seconds[(layer, kind, precision, way)]
                                    for way in TRANSPOSED_WAYS)
                row += [f"{native * 1e3:.1f}", f"{subpixel * 1e3:.1f}",
                        f"{native / subpixel:.2f}x"]
            rows.append(row)
    print(f"\nG's transposed convolutions, batch {args.batch_size}, medians of {args.rounds} "
          "rounds (speed-up: native time / sub-pixel time):")
    print_table(["G layer", "run", "fp32 native ms", "fp32 sub-pixel ms", "fp32 speed-up",
                 "bf16 native ms", "bf16 sub-pixel ms", "bf16 speed-up"], rows)
    iteration = []
    for precision in ("fp32", "bf16"):
        native, subpixel = (sum(count * seconds[(layer, kind, precision, way)]
                                for layer in LAYERS for kind, count in TRANSPOSED_RUNS.items())
                            for way in TRANSPOSED_WAYS)
        iteration.append([precision, f"{native:.3f}", f"{subpixel:.3f}",
                          f"{native / subpixel:.2f}x"])
    print("\nG's transposed convolutions in one iteration (1 forward + 2 with gradients per "
          "layer), run one after another:")
    print_table(["precision", "native s", "sub-pixel s", "speed-up"], iteration)


def _timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _report(args, seconds, peaks):
    from dcgan.ops import matmul_filter_gradient_applies

    print(f"\nmatmul 2048^3 peaks: fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s")
    rows = []
    flops = {layer: 2 * args.batch_size * (layer[0] // 2) ** 2 * KERNEL * KERNEL * layer[1]
             * layer[2] for layer in LAYERS}
    for side, in_dim, out_dim in LAYERS:
        flop = flops[(side, in_dim, out_dim)]
        for kind in (*RUNS_PER_ITERATION, PATCH_MATMUL):
            fp32, bf16 = (seconds[((side, in_dim, out_dim), kind, p)] for p in ("fp32", "bf16"))
            rows.append([f"{side}x{side}x{in_dim} -> {out_dim}", kind, f"{fp32 * 1e3:.1f}",
                         f"{bf16 * 1e3:.1f}", f"{fp32 / bf16:.2f}x",
                         f"{100 * flop / bf16 / 1e9 / peaks['bf16']:.0f}%"])
    print(f"\none kernel alone, batch {args.batch_size}, medians of {args.rounds} rounds:")
    print_table(["layer", "kernel", "fp32 ms", "bf16 ms", "bf16 speed-up",
                 "bf16 of bf16 peak"], rows)
    iteration_flop = sum(counts[index] * flops[layer] for counts in RUNS_PER_ITERATION.values()
                         for index, layer in enumerate(LAYERS))
    totals = {}
    for precision in ("fp32", "bf16"):
        for variant in ("native", "patch matmul for 6x6 and 3x3 outputs"):
            total = 0.0
            for index, layer in enumerate(LAYERS):
                for kind, counts in RUNS_PER_ITERATION.items():
                    small = matmul_filter_gradient_applies(layer[0] // 2, layer[0] // 2)
                    if kind == "weight gradient" and small and variant != "native":
                        kind = PATCH_MATMUL
                    total += counts[index] * seconds[(layer, kind, precision)]
            totals[(precision, variant)] = total
    print("\nconvolution time of one iteration, kernels run one after another (the real "
          "iteration overlaps some ops on the two threads):")
    print_table(["precision", "weight gradients", "s/iteration",
                 f"GFLOP/s ({iteration_flop / 1e9:.1f} GFLOP)", "of its matmul peak"],
                [[p, v, f"{t:.3f}", f"{iteration_flop / t / 1e9:.0f}",
                  f"{100 * iteration_flop / t / 1e9 / peaks[p]:.0f}%"]
                 for (p, v), t in totals.items()])


if __name__ == "__main__":
    main()
