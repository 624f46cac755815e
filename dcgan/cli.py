"""The dcgan command line: its flags, their checks, and a table of the modes they pick.

`main.py` (carpedm20's entry point) and the installed `dcgan` command both run `main()` here:

    python main.py --dataset mnist --train --epoch 5
    python main.py --dataset anime --image_size 96 --output_size 48 --train
    python main.py --dataset anime --visualize
    python main.py --dataset anime --evaluate
    python main.py --dataset anime --export web && python main.py --serve
"""

import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter

from absl import app, flags
from absl import logging as absl_logging

from dcgan import latent, runtime
from dcgan.config import ModelConfig
from dcgan.errors import TrainingError, UsageError
from dcgan.settings import RunSettings
from dcgan.visualize_options import VisualizeOptions

runtime.skip_keras()  # before absl or anything else can import TensorFlow

# Each default is declared once, on the dataclass that holds the setting; the flags show it.
RUN, NET, PICTURES = RunSettings, ModelConfig, VisualizeOptions

# carpedm20's flags, under their names.
flags.DEFINE_integer(
    "epoch", RUN.epoch, "Epochs to train (a resumed run counts the ones already done)."
)
flags.DEFINE_float("learning_rate", RUN.learning_rate, "Adam learning rate.")
flags.DEFINE_float("beta1", RUN.beta1, "Adam beta1 (momentum).")
flags.DEFINE_integer("train_size", None, "Use at most this many images per epoch (default all).")
flags.DEFINE_integer("batch_size", RUN.batch_size, "Images per training batch.")
flags.DEFINE_integer("input_height", None, "Centre-crop height (implies --crop).")
flags.DEFINE_integer("input_width", None, "Centre-crop width (default: --input_height).")
flags.DEFINE_integer("output_height", None, "Height of generated images (default 64; MNIST 28).")
flags.DEFINE_integer("output_width", None, "Width of generated images (default: --output_height).")
flags.DEFINE_string("dataset", "mnist", "Dataset: a folder under --data_dir, or mnist.")
flags.DEFINE_string(
    "input_fname_pattern",
    RUN.input_fname_pattern,
    "Glob of the files to read in the dataset folder.",
)
flags.DEFINE_string("data_dir", RUN.data_dir, "Folder holding one folder per dataset.")
flags.DEFINE_string("checkpoint_dir", RUN.checkpoint_dir, "Folder of runs' checkpoints.")
flags.DEFINE_string("sample_dir", RUN.sample_dir, "Folder of runs' pictures.")
flags.DEFINE_string("tensorboard_dir", RUN.tensorboard_dir, "Folder of runs' TensorBoard logs.")
flags.DEFINE_boolean("train", False, "Train (resuming from the newest checkpoint).")
flags.DEFINE_boolean(
    "crop",
    False,
    "Centre-crop to --image_size before resizing (on by default when a crop size is given).",
)
flags.DEFINE_boolean("visualize", False, "Write pictures from the newest checkpoint.")
flags.DEFINE_boolean(
    "export",
    False,
    "Write the newest checkpoint's generator as a frozen graph, "
    "SavedModel and ONNX model (`--export web` also builds the web page).",
)
flags.DEFINE_boolean("export_web", False, "Same as `--export web`: export and build the page.")
flags.DEFINE_string("export_dir", "export", "Folder of runs' exports; the run's name is added.")
flags.DEFINE_boolean("serve", False, "Serve the newest exported web page on 127.0.0.1.")
flags.DEFINE_integer("port", 8000, "Port for --serve.")
flags.DEFINE_integer("max_to_keep", RUN.max_to_keep, "Checkpoints kept on disk.")
flags.DEFINE_integer("sample_freq", RUN.sample_freq, "Steps between sample grids.")
flags.DEFINE_integer("ckpt_freq", RUN.ckpt_freq, "Steps between checkpoints.")
flags.DEFINE_integer("z_dim", NET.z_dim, "Length of the latent vector z.")
flags.DEFINE_string("z_dist", NET.z_dist, "Latent distribution: " + ", ".join(latent.NAMES) + ".")
# Square shorthands and this project's additions.
flags.DEFINE_integer("image_size", None, "Square centre-crop size (sets --input_height/width).")
flags.DEFINE_integer("output_size", None, "Square output size (sets --output_height/width).")
flags.DEFINE_integer("g_steps", RUN.g_steps, "Generator updates per discriminator update.")
flags.DEFINE_integer("seed", None, "Random seed for a reproducible run or sample.")
flags.DEFINE_integer("num_samples", RUN.num_samples, "Images in each sample grid.")
flags.DEFINE_integer("gf_dim", NET.gf_dim, "Generator filters in the last deconvolution.")
flags.DEFINE_integer("df_dim", NET.df_dim, "Discriminator filters in the first convolution.")
flags.DEFINE_integer("gfc_dim", NET.gfc_dim, "Generator fully connected units (MNIST).")
flags.DEFINE_integer("dfc_dim", NET.dfc_dim, "Discriminator fully connected units (MNIST).")
# --visualize: which pictures (see the README's Visualize section).
flags.DEFINE_string(
    "mode",
    None,
    "Visualize mode: grid (default), sweep, sweep_gifs, zero_gifs, "
    "merged_gif, interpolate, best, files or digits.",
)
flags.DEFINE_integer(
    "option",
    None,
    "carpedm20's visualize option 0-4: grid, sweep, sweep_gifs, zero_gifs, merged_gif.",
)
flags.DEFINE_list(
    "dims", None, "z dimensions to sweep, e.g. 0,5,10-19 (default: all; merged_gif: the first 100)."
)
flags.DEFINE_integer("label", None, "MNIST digit to draw (default: seed % 10, or all ten).")
flags.DEFINE_list(
    "seeds", None, "Seeds to interpolate between, e.g. 3,17,42 (default: --seed and --seed + 1)."
)
flags.DEFINE_string("interp", "both", "Interpolation: lerp, slerp or both.")
flags.DEFINE_integer(
    "search_num", PICTURES.search_num, "Best-of-N: images scored by the discriminator."
)
flags.DEFINE_integer("frames", PICTURES.frames, "Steps of a sweep or of each interpolation leg.")
flags.DEFINE_integer("fps", PICTURES.fps, "GIF frames per second.")
flags.DEFINE_integer(
    "num_gifs", PICTURES.num_gifs, "sweep_gifs: how many GIFs (random dimensions)."
)
flags.DEFINE_integer(
    "scale", PICTURES.scale, "Enlarge every picture N times on each side (nearest neighbour)."
)
flags.DEFINE_integer(
    "intra_op_threads", RUN.intra_op_threads, "Threads inside one op (0: every core)."
)
flags.DEFINE_integer(
    "inter_op_threads", RUN.inter_op_threads, "Ops run at once (0: TensorFlow's choice)."
)
flags.DEFINE_boolean(
    "evaluate",
    False,
    "Compare the newest checkpoint's images with real ones "
    "(SWD, NDB/K, JS, MS-SSIM, each beside its real-vs-real floor).",
)
flags.DEFINE_integer(
    "eval_num",
    None,
    "Images per compared set (--evaluate: 2048, training: 512; capped by half the real images).",
)
flags.DEFINE_string(
    "eval_data", None, "--evaluate against this folder of pictures instead of the run's dataset."
)
flags.DEFINE_integer(
    "eval_freq",
    RUN.eval_freq,
    "Steps between evaluations during training, written to TensorBoard and the log (0: none).",
)
flags.DEFINE_integer(
    "ndb_k", RUN.ndb_k, "Bins of the NDB metric (needs 2 x this many real images)."
)
flags.DEFINE_float(
    "ema",
    RUN.ema,
    "Keep an exponential moving average of the generator's weights "
    "with this decay (e.g. 0.999) and sample from it (0: off).",
)
flags.DEFINE_string(
    "precision",
    RUN.precision,
    "Compute precision: fp32, or bf16 (CPUs with AMX or "
    "AVX-512 BF16; weights, optimizer state and losses stay fp32).",
)

FLAGS = flags.FLAGS
# Flags that pick one run's folder for --visualize instead of the newest run.
RUN_FLAGS = ("batch_size", "output_size", "output_height", "output_width")
# Flags a sampling mode takes from the command line rather than from the saved run.
SAMPLING_OVERRIDES = (
    "num_samples",
    "sample_dir",
    "precision",
    "intra_op_threads",
    "inter_op_threads",
    "ndb_k",
)


def fail(message, status=2):
    """Print one line to stderr and exit."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def parse_flags(argv):
    """absl parsing, but a bad flag is one line and exit status 2 rather than a usage dump."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        fail(f"{error} (see `python main.py --help`)")


def _settings_for_sampling(values, present):
    from dcgan import settings

    settings.check_compute_flags(values)
    if any(name in present for name in RUN_FLAGS):
        from dcgan import checkpoints

        wanted = settings.from_flags(values, present)
        saved = settings.load(wanted.run_checkpoint_dir)
        if saved is None or checkpoints.latest(wanted.run_checkpoint_dir) is None:
            raise UsageError(
                f"no trained checkpoint in {wanted.run_checkpoint_dir}/: train it "
                f"with `python main.py --dataset {wanted.dataset} --train` and the "
                "same size flags"
            )
    else:
        dataset = values["dataset"] if "dataset" in present else None
        saved = settings.newest_run(values["checkpoint_dir"], dataset)
    overrides = {name: values[name] for name in SAMPLING_OVERRIDES if name in present}
    return saved.replace(checkpoint_dir=values["checkpoint_dir"], **overrides)


def _train(values, present):
    from dcgan import settings, visualize_options

    visualize_options.reject_outside_visualize(present)
    run_settings = settings.from_flags(values, present)
    settings.make_output_folders(run_settings)
    from dcgan.train import train

    train(run_settings)


def _visualize(values, present):
    from dcgan import visualize_options

    run_settings = _settings_for_sampling(values, present)
    options = visualize_options.from_flags(values, present, run_settings)
    from dcgan.visualize import listing, visualize

    for line in listing(visualize(run_settings, options)):
        print(line)


def _evaluate(values, present):
    from dcgan import settings

    settings.check_evaluation_flags(values)
    eval_data = values["eval_data"]
    if eval_data is not None and not os.path.isdir(eval_data):
        raise UsageError(f"--eval_data {eval_data} is not a folder of pictures")
    run_settings = _settings_for_sampling(values, present)
    from dcgan.evaluate import evaluate

    _, path = evaluate(run_settings, values["eval_num"], eval_data, values["seed"] or 0)
    print(path)


def _export(values, present):
    run_settings = _settings_for_sampling(values, present)
    from dcgan.export import export

    paths = export(run_settings, values["export_dir"])
    if values["export_web"]:
        from dcgan.web.page import build_page

        paths.append(build_page(os.path.dirname(paths[0])))
    print("\n".join(paths))


def _serve(values, present):
    if not 0 <= values["port"] < 65536:
        raise UsageError(f"--port must be from 0 to 65535, not {values['port']}")
    from dcgan.web.page import newest_page
    from dcgan.web.serve import serve

    dataset = values["dataset"] if "dataset" in present else None
    serve(newest_page(values["export_dir"], dataset), values["port"])


# Each mode's flag and the function that runs it; exactly one is chosen per command.
MODES = {
    "train": _train,
    "visualize": _visualize,
    "evaluate": _evaluate,
    "export": _export,
    "serve": _serve,
}


def _flag_values(argv):
    """The flags as a dict, with `--export web` folded into export_web; the rest of argv."""
    values = FLAGS.flag_values_dict()
    if values["export"] and argv[1:2] == ["web"]:
        argv = argv[:1] + argv[2:]  # `--export web`: the word belongs to the flag
        values["export_web"] = True
    values["export"] = values["export"] or values["export_web"]
    if len(argv) > 1:
        raise UsageError(
            f"unexpected argument {argv[1]!r}: flags start with -- (see `python main.py --help`)"
        )
    return values


def run(argv):
    """Check the flags and run the one mode they choose."""
    values = _flag_values(argv)
    present = {name for name in values if FLAGS[name].present}
    modes = [mode for mode in MODES if values[mode]]
    if len(modes) != 1:
        raise UsageError(
            "choose one mode: "
            + " or ".join(f"--{m}" for m in MODES)
            + (f" (got {', '.join('--' + m for m in modes)})" if modes else "")
        )
    # Flags are checked before TensorFlow is imported, so a mistake is reported at once.
    MODES[modes[0]](values, present)


def main(argv):
    """Entry point for absl: turn the project's errors into one line and an exit status."""
    absl_logging.get_absl_handler().setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logging.getLogger("dcgan").setLevel(logging.INFO)
    try:
        run(argv)
    except UsageError as error:
        fail(str(error), 2)
    except TrainingError as error:
        fail(str(error), 1)
    except OSError as error:  # disk full, file too large, folder gone: the newest checkpoint stays
        where = f" ({error.filename})" if error.filename else ""
        fail(
            f"{error.strerror or error}{where}: free some disk space or fix the folder; the "
            "newest checkpoint is intact",
            1,
        )
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (which saves and exits 0)
        fail("interrupted; the newest checkpoint is intact", 130)


def console_main():
    """The installed `dcgan` command and `python main.py`: absl parses the flags, then main()."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    console_main()
