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
import textwrap

# Hide TensorFlow's C++ INFO and WARNING lines (--verbose shows them); set before TensorFlow is
# imported, which reads it once. dcgan.runtime.start applies it to the lines printed on loading.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags
from absl import logging as absl_logging

from dcgan import cluster, latent, mode_flags, recipes, runtime, words
from dcgan.data import MNIST, MNIST_SIZE
from dcgan.errors import TrainingError, UsageError, describe_os_error
from dcgan.flag_checks import DEFAULT_OUTPUT_SIZE
from dcgan.network import ModelConfig
from dcgan.settings import EVAL_NUM, TRAIN_EVAL_NUM, Budget, RunSettings
from dcgan.visualize_options import BOTH, VisualizeOptions

runtime.skip_keras()  # before absl or anything else can import TensorFlow

# Each default is declared once, on the dataclass that holds the setting; the flags show it.
RUN, NET, PICTURES, BUDGET = RunSettings, ModelConfig, VisualizeOptions, Budget


def _from_recipe(knob):
    """Help text for a training choice whose default is the recipe's value."""
    value = recipes.RECIPES[recipes.DEFAULT][knob]
    return f"(default: the recipe's; the default {recipes.DEFAULT}'s is {value!r})"


# carpedm20's flags, under their names.
flags.DEFINE_integer(
    "epoch", RUN.epoch, "Epochs to train (a resumed run counts the ones already done)."
)
flags.DEFINE_integer(
    "steps", BUDGET.steps, "Stop at this step (a total: a resumed run counts the steps done; "
    "not kept in run.json). Without --epoch it replaces the epoch limit; with it, the first "
    "reached stops the run."
)
flags.DEFINE_float(
    "minutes", BUDGET.minutes, "Train for this many minutes in this launch (e.g. 10 or 0.5), "
    "then save and stop, unless --steps (or --epoch, when given) is reached first."
)
flags.DEFINE_float("learning_rate", RUN.learning_rate,
                   "Adam learning rate of D and G " + _from_recipe("learning_rate"))
flags.DEFINE_float("beta1", RUN.beta1, "Adam beta1 (momentum) " + _from_recipe("beta1"))
flags.DEFINE_float("beta2", RUN.beta2,
                   "Adam beta2 (decay of the squared gradients' average) " + _from_recipe("beta2"))
flags.DEFINE_integer("train_size", RUN.train_size,
                     "Use at most this many images per epoch (0: every image).")
flags.DEFINE_integer("batch_size", RUN.batch_size, "Images per training batch.")
flags.DEFINE_integer("input_height", None, "Centre-crop height (implies --crop).")
flags.DEFINE_integer("input_width", None, "Centre-crop width (default: --input_height).")
flags.DEFINE_integer("output_height", None, f"Height of generated images (default "
                     f"{DEFAULT_OUTPUT_SIZE}; MNIST {MNIST_SIZE}).")
flags.DEFINE_integer("output_width", None, "Width of generated images (default: --output_height).")
flags.DEFINE_string("dataset", MNIST, f"Dataset: a folder under --data_dir, or {MNIST}.")
flags.DEFINE_string(
    "input_fname_pattern",
    RUN.input_fname_pattern,
    "Glob of the files to read in the dataset folder.",
)
flags.DEFINE_string("data_dir", RUN.data_dir, "Folder holding one folder per dataset.")
flags.DEFINE_string(
    "cache_dir",
    RUN.cache_dir,
    "Folder for the decoded image cache (default: <data_dir>/.cache), e.g. when --data_dir is "
    "read-only.",
)
flags.DEFINE_string("checkpoint_dir", RUN.checkpoint_dir, "Folder of runs' checkpoints.")
flags.DEFINE_string("sample_dir", RUN.sample_dir, "Folder of runs' pictures.")
flags.DEFINE_string("tensorboard_dir", RUN.tensorboard_dir, "Folder of runs' TensorBoard logs.")
flags.DEFINE_string(
    "name",
    RUN.name,
    "The run's folder name under --checkpoint_dir, --sample_dir, --tensorboard_dir and "
    "--export_dir (default <dataset>_<batch>_<height>_<width>); picks the run in every mode.",
)
flags.DEFINE_string(
    "init_from",
    RUN.init_from,
    "--train: start a new run from another run's weights (G and D; fresh optimiser, step 0): "
    "a run's name, a run folder or a checkpoint path; the network flags must match the source's.",
)
flags.DEFINE_string(
    "checkpoint",
    None,
    "The checkpoint --visualize, --evaluate and --export read: a step such as 500, or a path "
    "such as checkpoints/anime_64_48_48/DCGAN.model-500 (default: the newest).",
)
flags.DEFINE_boolean(
    "verbose", False, "Show TensorFlow's start-up and deprecation messages, and debug lines."
)
flags.DEFINE_boolean(
    "train",
    False,
    "Train: resume the newest run of --dataset (or the one --name or the size flags pick), "
    "or start a new one.",
)
flags.DEFINE_boolean(
    "crop",
    False,
    "Centre-crop to --image_size before resizing (on by default when a crop size is given).",
)
flags.DEFINE_boolean(
    "visualize", False, "Write pictures from a checkpoint (default the newest)."
)
flags.DEFINE_boolean(
    "export",
    False,
    "Write a checkpoint's generator (default the newest) as a frozen graph, "
    "SavedModel and ONNX model (`--export web` also builds the web page).",
)
flags.DEFINE_boolean("export_web", False, "Same as `--export web`: export and build the page.")
flags.DEFINE_string("export_dir", "export", "Folder of runs' exports; the run's name is added.")
flags.DEFINE_boolean("serve", False, "Serve the newest exported web page on 127.0.0.1.")
flags.DEFINE_boolean("list", False, "List the runs under --checkpoint_dir (of --dataset, if "
                     "given): sizes, newest step, recipe and last --evaluate scores.")
flags.DEFINE_integer("port", 8000, "Port for --serve.")
flags.DEFINE_integer("max_to_keep", RUN.max_to_keep,
                     "Checkpoints kept: the newest N and the newest N on the --ckpt_freq schedule.")
flags.DEFINE_integer("sample_freq", RUN.sample_freq, "Steps between sample grids.")
flags.DEFINE_integer("ckpt_freq", RUN.ckpt_freq, "Steps between checkpoints.")
flags.DEFINE_integer("z_dim", NET.z_dim, "Length of the latent vector z.")
flags.DEFINE_string("z_dist", NET.z_dist, "Latent distribution: " + ", ".join(latent.NAMES) + ".")
# Square shorthands and this project's additions.
flags.DEFINE_integer("image_size", None, "Square centre-crop size (sets --input_height/width).")
flags.DEFINE_integer("output_size", None, "Square output size (sets --output_height/width).")
flags.DEFINE_integer("g_steps", RUN.g_steps,
                     "Generator updates per discriminator update " + _from_recipe("g_steps"))
flags.DEFINE_integer("seed", RUN.seed, "Random seed for a reproducible run or sample.")
flags.DEFINE_integer("num_samples", RUN.num_samples, "Images in each sample grid.")
flags.DEFINE_integer("gf_dim", NET.gf_dim, "Generator filters in the last deconvolution.")
flags.DEFINE_integer("g_kernel", None, "Kernel size of G's stride-2 deconvolutions: 5 "
                     "(carpedm20's) or 4 (even overlap, against checkerboard patterns); "
                     "default: the --recipe's (" + ", ".join(
                         f"{name} {side}" for name, side in recipes.G_KERNEL.items()) + ").")
flags.DEFINE_integer("df_dim", NET.df_dim, "Discriminator filters in the first convolution.")
flags.DEFINE_integer("gfc_dim", NET.gfc_dim, "Generator fully connected units (MNIST).")
flags.DEFINE_integer("dfc_dim", NET.dfc_dim, "Discriminator fully connected units (MNIST).")
# --visualize: which pictures (see the README's Visualize section).
flags.DEFINE_string(
    "mode",
    None,
    "Visualize mode: grid (default), sweep, sweep_gifs, zero_gifs, "
    "merged_gif, interpolate, best, files, digits, project or progress.",
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
flags.DEFINE_string("image", None, "project: the picture to find the latent vector of.")
flags.DEFINE_integer("restarts", PICTURES.restarts, "project: starting points searched from "
                     "at once (seeds --seed, --seed + 1, ...).")
flags.DEFINE_integer("project_steps", PICTURES.project_steps,
                     "project: Adam steps of the search (0: the best starting point).")
flags.DEFINE_string("interp", BOTH, f"Interpolation: lerp, slerp or {BOTH}.")
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
flags.DEFINE_float(
    "truncation", PICTURES.truncation,
    "Pull z towards its mean by this factor, 0-1 (1: off): fewer odd pictures, less variety.",
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
    "Compare a checkpoint's images (default the newest) with real ones "
    "(SWD, NDB/K, JS, MS-SSIM, each beside its real-vs-real floor).",
)
flags.DEFINE_integer(
    "eval_num",
    RUN.eval_num,
    f"Images per compared set (0: {EVAL_NUM} for --evaluate, {TRAIN_EVAL_NUM} in training; "
    "capped by half the real images).",
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
    "ndb_k",
    RUN.ndb_k,
    "Bins of the NDB metric (needs 2 x this many real images, and 4 a bin to mean anything).",
)
flags.DEFINE_float(
    "ema",
    RUN.ema,
    "Keep an exponential moving average of the generator's weights "
    "with this decay (e.g. 0.999) and sample from it (0: off) " + _from_recipe("ema"),
)
flags.DEFINE_string(
    "precision",
    RUN.precision,
    "Compute precision: auto (training: bf16 where the CPU has bfloat16 units, else fp32; "
    "sampling: fp32), fp32, or bf16 (CPUs with AMX or AVX-512 BF16; weights, optimizer "
    "state, losses, scores and images stay fp32). --export always writes an fp32 model.",
)
# Training choices beyond carpedm20's flags; a --recipe sets them all.
flags.DEFINE_string(
    "recipe",
    None,
    "Named set of training choices: " + ", ".join(recipes.RECIPES) + " (carpedm20: exactly "
    f"carpedm20's training); flags given with it override its values. Default: "
    f"{recipes.DEFAULT} for pictures, {recipes.DIGITS_DEFAULT} for --dataset mnist; a resumed "
    "run keeps its own.",
)
flags.DEFINE_float("d_learning_rate", RUN.d_learning_rate,
                   "Adam learning rate of D (default: --learning_rate, else the recipe's).")
flags.DEFINE_float("g_learning_rate", RUN.g_learning_rate,
                   "Adam learning rate of G (default: --learning_rate, else the recipe's).")


def _define_choice(define, knob, text):
    """Define the flag of training choice `knob` with `define` (flags.DEFINE_float, ...): its
    default None stands for the recipe's value, which its help `text` is followed by."""
    define(knob, getattr(RUN, knob), f"{text} {_from_recipe(knob)}")


_define_choice(flags.DEFINE_float, "label_smoothing",
               "D's target for real images, e.g. 0.9 (one-sided label smoothing; 1: none)")
_define_choice(flags.DEFINE_integer, "ema_start",
               "Step the EMA starts averaging from (before it, it copies G)")
_define_choice(flags.DEFINE_string, "augment", "DiffAugment of D's real and fake inputs: "
               f"comma-separated {', '.join(recipes.AUGMENT_POLICIES)}, or none")
_define_choice(flags.DEFINE_float, "r1_gamma",
               "Weight of a lazy R1 penalty on D's gradients at real images, e.g. 1 (0: off)")
_define_choice(flags.DEFINE_integer, "r1_every",
               "D steps between R1 steps (lazy regularisation; each counts this many times)")
_define_choice(flags.DEFINE_integer, "lr_half_life",
               "Steps both Adam rates hold, after which they halve every as many steps (0: "
               "constant rates)")
flags.DEFINE_string("distribute", RUN.distribute, "Train on several devices: none, mirrored (the "
                    "local GPUs, or --devices) or multi_worker (the cluster in TF_CONFIG).")
flags.DEFINE_string("devices", RUN.devices, "--distribute mirrored: devices to use, e.g. "
                    "/gpu:0,/gpu:1 (default: every local GPU, else the CPU).")
flags.DEFINE_integer("worker_timeout", RUN.worker_timeout, "--distribute multi_worker: seconds "
                     "to wait for a task of the cluster to start before stopping with an error.")

FLAGS = flags.FLAGS
log = logging.getLogger("dcgan")
# Flags a sampling mode takes from the command line, when given, rather than from the saved run.
# --precision is always the command line's (default auto: fp32 when sampling, the web page's
# pixels): run.json holds what the trainer computed in, which is no choice for sampling.
SAMPLING_OVERRIDES = (
    "num_samples",
    "sample_dir",
    "intra_op_threads",
    "inter_op_threads",
    "ndb_k",
    "cache_dir",
)


def fail(message, status=2):
    """Print one line to stderr and exit."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


# --help: the flags by mode, each flag in one group (tests/test_console.py checks that none is left
# out). absl's own flags (--flagfile, --verbosity, ...) are in `--helpfull`.
HELP_GROUPS = (
    ("Modes (choose one)", ("train", "visualize", "evaluate", "export", "serve", "list")),
    ("Which run (every mode)", ("dataset", "name", "checkpoint", "data_dir", "cache_dir",
                                "checkpoint_dir", "sample_dir", "tensorboard_dir", "export_dir")),
    ("--train: pictures and sizes", ("image_size", "output_size", "input_height", "input_width",
                                     "output_height", "output_width", "crop",
                                     "input_fname_pattern", "train_size", "batch_size")),
    ("--train: how long (the first limit reached stops the run, saving it)",
     ("epoch", "steps", "minutes")),
    ("--train: optimisation (--recipe sets the rest unless given)",
     ("recipe", "learning_rate", "d_learning_rate", "g_learning_rate", "beta1", "beta2",
      "g_steps", "ema", "ema_start", "label_smoothing", "augment", "r1_gamma", "r1_every",
      "lr_half_life", "seed")),
    ("--train: network (a resumed run keeps its own)", ("z_dim", "z_dist", "gf_dim", "g_kernel",
                                                        "df_dim", "gfc_dim", "dfc_dim",
                                                        "init_from")),
    ("--train: outputs", ("sample_freq", "num_samples", "ckpt_freq", "max_to_keep",
                          "eval_freq")),
    ("--visualize (also --seed, --num_samples, --checkpoint)",
     ("mode", "option", "dims", "label", "seeds", "interp", "search_num", "frames", "fps",
      "num_gifs", "scale", "image", "restarts", "project_steps", "truncation")),
    ("--evaluate (also --seed, --checkpoint; the first two serve --eval_freq too)",
     ("eval_num", "ndb_k", "eval_data")),
    ("--export and --serve", ("export_web", "port")),
    ("Computing and the console (every mode)", ("precision", "intra_op_threads",
                                                "inter_op_threads", "verbose")),
    ("--train on several devices or machines (TF_CONFIG)", ("distribute", "devices",
                                                             "worker_timeout")),
)
HELP_WORDS = ("--help", "--helpshort", "-h", "-?")
HELP_WIDTH = 100


def _flag_help(name):
    """`  --name=DEFAULT   help`, wrapped, for one flag."""
    flag = FLAGS[name]
    default = flag.default
    head = f"  --{name}" if default is None or default is False else f"  --{name}={default}"
    if default is True:
        head = f"  --[no]{name}"
    lines = textwrap.wrap(flag.help, HELP_WIDTH - 28)
    if len(head) > 26:
        return "\n".join([head] + [" " * 28 + line for line in lines])
    return "\n".join([head.ljust(28) + lines[0]] + [" " * 28 + line for line in lines[1:]])


def help_text(command):
    """--help: what the command does, its modes, and every flag under the mode that reads it."""
    parts = [f"usage: {command} --train | --visualize | --evaluate | --export [web] | --serve "
             "| --list [flags]", "",
             "Train a DCGAN on a folder of pictures (data/<dataset>/) or MNIST, then draw, "
             "score and export it.", f"  {command} --dataset anime --image_size 96 "
             "--output_size 48 --train", f"  {command} --dataset anime --visualize --mode "
             "interpolate --seeds 3,17,42", f"  {command} --dataset anime --export web && "
             f"{command} --serve"]
    for title, names in HELP_GROUPS:
        parts += ["", title + ":"] + [_flag_help(name) for name in names]
    parts += ["", "Keep a run's flags in a file, one per line (--dataset=anime), and pass "
              "--flagfile=FILE;", "flags after it override the file's, and it may hold every "
              "mode's flags. --helpfull also lists absl's own flags."]
    return "\n".join(parts)


def parse(argv):
    """absl's parsing of `argv` (program name first); returns the words that are not flags. A
    bad flag raises UsageError with the one line `main.py` prints for it (tests check the flag
    tables through this and `run`, in-process). Records the command `argv[0]` names, which
    the commands suggested in messages begin with."""
    words.started_as(argv[0])
    try:
        return FLAGS(argv)
    except flags.Error as error:
        raise UsageError(f"{error} (see `{words.command()} --help`)") from None
    except UnicodeDecodeError as error:  # absl reads a --flagfile as UTF-8 text
        raise UsageError(f"a --flagfile is not UTF-8 text (byte {error.start}: {error.reason}): "
                         "save it as UTF-8, one flag per line") from None


def parse_flags(argv):
    """absl parsing, but a bad flag is one line and exit status 2 rather than a usage dump, and
    --help prints the flags grouped by mode."""
    if any(word in HELP_WORDS for word in argv[1:]):
        print(help_text(words.command_for(argv[0])))
        sys.exit(0)
    try:
        return parse(argv)
    except UsageError as error:
        fail(str(error))


def _settings_for_sampling(values, present):
    """The saved run a sampling mode reads, with the command line's overrides."""
    from dcgan import flag_checks, runs

    flag_checks.check_compute_flags(values)
    saved = runs.sampling_run(values, present)
    overrides = {name: values[name] for name in SAMPLING_OVERRIDES if name in present}
    return saved.replace(precision=values["precision"], **overrides)


def _checkpoint_to_sample(run_settings, values):
    """Start TensorFlow (once every flag is checked); the path of the checkpoint --checkpoint
    asks for (None: the newest)."""
    runtime.start()
    from dcgan import checkpoints

    return checkpoints.pick(run_settings.run_checkpoint_dir, values["checkpoint"])


def _announce(run_settings, saved, values, present):
    """Training's first line, its one announcement: the run it starts or resumes (from its
    newest checkpoint: the restore says so if it falls back to an older one), its sizes, and
    why that one."""
    from dcgan import checkpoints, run_list, runs, settings

    what = f"run {run_settings.run_name} ({settings.describe(run_settings)})"
    newest = checkpoints.latest(run_settings.run_checkpoint_dir)
    if newest is None:
        close = run_list.closest(values["name"], run_settings.checkpoint_dir) \
            if "name" in present else None
        log.info("starting %s in %s/%s", what, run_settings.run_checkpoint_dir,
                 f" (a new run: --name {close} would resume that one)" if close else "")
        return
    why = ""
    if saved is not None and "name" not in present:
        # found by dataset and sizes: say which others the flags skip
        sizes = runs.picks_as_flags(runs.run_picks(values, present))
        why = (f"; the newest {run_settings.dataset} run{' with ' + sizes if sizes else ''}"
               " (--name picks another or starts a new one)")
    log.info("resuming %s from step %d in %s/%s", what, checkpoints.step_of(newest),
             run_settings.run_checkpoint_dir, why)


def training_settings(args):
    """The RunSettings `main.py --train ARGS` would train with, checked as it checks them (for
    benchmarks and tests). Raises UsageError, or absl's flags.Error for an unknown flag."""
    from dcgan import flag_checks

    FLAGS.unparse_flags()
    try:
        FLAGS(["main.py", "--train", *args])
        values = FLAGS.flag_values_dict()
        return flag_checks.from_flags(values, {name for name in values if FLAGS[name].present})
    finally:
        FLAGS.unparse_flags()


def _train(values, present):
    from dcgan import data, flag_checks, outputs, runs

    budget = flag_checks.budget_from_flags(values, present)
    run_settings, saved = runs.training_run(values, present)
    if not run_settings.is_mnist:  # before a run's folders are made for a misspelt dataset
        data.require_folder(run_settings.dataset_folder)
    if cluster.writes_outputs(run_settings.distribute):  # other workers write nothing there
        outputs.make_output_folders(run_settings)
    runtime.start()
    _announce(run_settings, saved, values, present)
    _trainer(run_settings, budget, saved).run()


def _trainer(run_settings, budget, resumed):
    """The trainer of a run (for this launch's `budget`, continuing saved run `resumed` or
    None): one process, or (--distribute) a tf.distribute strategy's."""
    if run_settings.distribute == "none":
        from dcgan.train import Trainer

        return Trainer(run_settings, budget=budget, resumed=resumed)
    from dcgan.distribute import DistributedTrainer  # tf.distribute only when asked for

    return DistributedTrainer(run_settings, budget=budget, resumed=resumed)


def _visualize(values, present):
    from dcgan import visualize_options

    run_settings = _settings_for_sampling(values, present)
    options = visualize_options.from_flags(values, present, run_settings)
    checkpoint = _checkpoint_to_sample(run_settings, values)
    from dcgan.visualize import listing, visualize

    for line in listing(visualize(run_settings, options, checkpoint)):
        print(line)


def _evaluate(values, present):
    from dcgan import flag_checks

    flag_checks.check_evaluation_flags(values)
    flag_checks.check_seed(values["seed"])
    eval_data = values["eval_data"]
    if eval_data is not None and not os.path.isdir(eval_data):
        raise UsageError(f"--eval_data {eval_data} is not a folder of pictures")
    run_settings = _settings_for_sampling(values, present)
    checkpoint = _checkpoint_to_sample(run_settings, values)
    from dcgan.evaluate import evaluate

    _, path = evaluate(run_settings, values["eval_num"], eval_data, values["seed"] or 0,
                       checkpoint)
    print(path)


def _export(values, present):
    run_settings = _settings_for_sampling(values, present)
    checkpoint = _checkpoint_to_sample(run_settings, values)
    from dcgan.export import export

    # The page is built inside the export, so both are swapped in together or not at all.
    print("\n".join(export(run_settings, values["export_dir"], checkpoint,
                           web=values["export_web"])))


def _serve(values, present):
    if not 0 <= values["port"] < 65536:
        raise UsageError(f"--port must be from 0 to 65535, not {values['port']}")
    from dcgan import flag_checks
    from dcgan.web.page import WEB_FOLDER, newest_page, page_names
    from dcgan.web.serve import serve

    name = values["name"]
    if name is not None:
        flag_checks.check_folder_name(name, "name", "--export_dir")
        page = os.path.join(values["export_dir"], name, WEB_FOLDER)
        if not os.path.isfile(os.path.join(page, "model.json")):
            close = words.closest(name, page_names(values["export_dir"]))
            meant = f"did you mean --name {close}? Or make" if close else "make"
            raise UsageError(f"no web page in {words.folder(page)}: {meant} it with "
                             f"`{words.command()} --name {name} --export web`")
    else:
        dataset = values["dataset"] if "dataset" in present else None
        page = newest_page(values["export_dir"], dataset)
    serve(page, values["port"])


def _list(values, present):
    from dcgan.run_list import listing

    sample_dir = values["sample_dir"] if "sample_dir" in present else None
    dataset = values["dataset"] if "dataset" in present else None
    print("\n".join(listing(values["checkpoint_dir"], sample_dir, dataset)))


# Each mode's flag and the function that runs it; exactly one is chosen per command.
MODES = {
    mode_flags.TRAIN: _train,
    mode_flags.VISUALIZE: _visualize,
    mode_flags.EVALUATE: _evaluate,
    mode_flags.EXPORT: _export,
    mode_flags.SERVE: _serve,
    mode_flags.LIST: _list,
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
            f"unexpected argument {argv[1]!r}: flags start with -- (see `{words.command()} --help`)"
        )
    return values


def run(argv, command_line=None):
    """Check the flags and run the one mode they choose. `command_line` (default sys.argv) is
    what was typed, before absl read any --flagfile: its flags must be ones the mode reads."""
    values = _flag_values(argv)
    present = {name for name in values if FLAGS[name].present}
    modes = [mode for mode in MODES if values[mode]]
    if len(modes) != 1:
        raise UsageError(
            "choose one mode: "
            + " or ".join(f"--{m}" for m in MODES)
            + (f" (got {', '.join('--' + m for m in modes)})" if modes else "")
        )
    typed = mode_flags.typed_flags(sys.argv if command_line is None else command_line, present)
    mode_flags.check(modes[0], typed)
    # Flags are checked before TensorFlow is imported, so a mistake is reported at once.
    MODES[modes[0]](values, present)


def _set_up_console(verbose):
    """What the console shows: this package's INFO lines; with --verbose also its debug lines
    and TensorFlow's own start-up and deprecation notices."""
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TensorFlow is not imported yet
        logging.getLogger("dcgan").setLevel(logging.DEBUG)
    else:
        runtime.hide_deprecation_notices()
        logging.getLogger("dcgan").setLevel(logging.INFO)


def main(argv):
    """Entry point for absl: turn the project's errors into one line and an exit status."""
    absl_logging.get_absl_handler().setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    _set_up_console(FLAGS.verbose)
    try:
        run(argv)
    except UsageError as error:
        fail(str(error), 2)
    except TrainingError as error:
        fail(str(error), 1)
    except OSError as error:  # what failed, on which file; the modes say more where they know
        fail(describe_os_error(error), 1)
    except MemoryError:
        fail("out of memory: ask for fewer or smaller images (--num_samples, --search_num, "
             "--frames, --eval_num, --batch_size)", 1)
    except KeyboardInterrupt:  # Ctrl-C outside the training loop (which saves and exits 0)
        fail("interrupted", 130)


def console_main():
    """The installed `dcgan` command and `python main.py`: absl parses the flags, then main()."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    console_main()
