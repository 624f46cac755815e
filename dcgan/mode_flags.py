"""Which mode reads which flag: a flag typed for a mode that would ignore it is refused.

One table (`READERS`) for every flag that not every mode reads. `--visualize --epoch 5` or
`--export --augment color` would otherwise run and exit 0 with the flag silently unused, and
the user would believe it did something. Flags read from a `--flagfile` are exempt: a run's
flag file may hold the flags of every mode (the README suggests keeping one per run), so only
the flags typed on the command line itself are checked.
"""

from dcgan import recipes
from dcgan.errors import UsageError
from dcgan.visualize_options import VISUALIZE_FLAGS

TRAIN, VISUALIZE, EVALUATE, EXPORT, SERVE, LIST = (
    "train", "visualize", "evaluate", "export", "serve", "list")
MODES = (TRAIN, VISUALIZE, EVALUATE, EXPORT, SERVE, LIST)
# The modes that restore a checkpoint of a run and sample from it.
SAMPLING = (VISUALIZE, EVALUATE, EXPORT)

_TRAINING_ONLY = (
    "tensorboard_dir", "data_dir", "image_size", "input_height", "input_width", "crop",
    "input_fname_pattern", "train_size", "epoch", "steps", "minutes", "recipe", "learning_rate",
    "beta1", "g_steps", *recipes.KNOBS, "z_dim", "z_dist", "gf_dim", "g_kernel", "df_dim",
    "gfc_dim", "dfc_dim", "sample_freq", "ckpt_freq", "max_to_keep", "eval_freq", "distribute",
    "devices", "worker_timeout", "init_from",
)
# The modes that read each flag; a flag not listed here is read by every mode.
READERS = {
    **dict.fromkeys(_TRAINING_ONLY, (TRAIN,)),
    # The sizes train a new run, and pick the run a sampling mode reads.
    **dict.fromkeys(("output_size", "output_height", "output_width", "batch_size",
                     "precision", "intra_op_threads", "inter_op_threads"), (TRAIN, *SAMPLING)),
    "checkpoint_dir": (TRAIN, *SAMPLING, LIST),
    "name": (TRAIN, *SAMPLING, SERVE),  # --list lists every run (of --dataset, if given)
    "checkpoint": SAMPLING,  # training always resumes the newest
    "cache_dir": (TRAIN, EVALUATE),
    "sample_dir": (TRAIN, VISUALIZE, EVALUATE, LIST),  # --list reads the runs' scores there
    "seed": (TRAIN, VISUALIZE, EVALUATE),
    "num_samples": (TRAIN, VISUALIZE),
    **dict.fromkeys(VISUALIZE_FLAGS, (VISUALIZE,)),
    **dict.fromkeys(("eval_num", "ndb_k"), (TRAIN, EVALUATE)),  # training's --eval_freq too
    "eval_data": (EVALUATE,),
    "export_web": (EXPORT,),
    "export_dir": (EXPORT, SERVE),
    "port": (SERVE,),
}


def check(mode, typed):
    """Raise UsageError naming the first flag in `typed` (flags given on the command line) that
    `mode` does not read, and the modes that do."""
    for name in sorted(typed):
        readers = READERS.get(name, MODES)
        if mode not in readers:
            modes = ", ".join(f"--{reader}" for reader in readers)
            raise UsageError(f"--{name} is for {modes}, not --{mode}: drop it")


def typed_flags(argv, known):
    """The names of the flags in `argv` (a command line, program name first) that are in
    `known`, as absl spells them: `--name`, `--name=value`, `-name`, and `--noname` for a
    boolean. Words after a bare `--` are not flags."""
    names = set()
    for word in argv[1:]:
        if word == "--":
            break
        if not word.startswith("-"):
            continue
        name = word.lstrip("-").split("=", 1)[0]
        if name not in known and name.startswith("no") and name[2:] in known:
            name = name[2:]
        if name in known:
            names.add(name)
    return names
