"""`--init_from`: a new run that starts from another run's weights (transfer to a small folder).

The new run takes the source checkpoint's generator and discriminator (batch-norm statistics
included) and nothing else. Its Adam slots, Adam's beta powers and its global step start fresh,
as in any new run: the source's slots are moments of another dataset's gradients, and a step
count carried over would skip Adam's bias correction and the EMA's early decay ramp.

With `--ema`, the new run's moving average starts equal to the generator it trains (the
source's raw generator, not the source's average): the average is of this run's weights, and a
shadow that started elsewhere would pull the new run's samples back towards the old dataset
for thousands of steps. D was trained against the raw generator, so G starts from it too.

Resolving and checking the source needs no TensorFlow (`source_of`, `check_same_network`);
reading its weights does (`check_readable`, `Transfer`).
"""

import dataclasses
import os

from dcgan import checkpoint_files, run_list, words
from dcgan.errors import UsageError, require
from dcgan.settings import RUN_FILE, load

FLAG = "--init_from"
# What a network variable's name says when it is not one: an optimiser slot or an EMA shadow.
_NOT_NETWORK = ("/Adam_", "/ema")
# The network's fields that have no flag: the dataset decides them.
_FROM_DATASET = {"c_dim": "colour channels", "y_dim": "labels"}


def source_of(source, checkpoint_dir):
    """(the source run's settings, its checkpoint's path prefix) for `--init_from SOURCE`: a
    checkpoint path, a run folder (its newest checkpoint) or a run's name under
    `checkpoint_dir`. Raises UsageError saying what SOURCE lacks."""
    require(source, f"{FLAG} needs a run's name, a run folder or a checkpoint path")
    checkpoint = checkpoint_files.named(source)
    if checkpoint:
        folder = os.path.dirname(os.path.abspath(checkpoint))
    elif os.path.isdir(source):
        folder = source
    elif os.path.isdir(os.path.join(checkpoint_dir, source)):
        folder = os.path.join(checkpoint_dir, source)
    else:
        raise UsageError(f"{FLAG} {source} is not a checkpoint, a run folder or a run in "
                         f"{words.folder(checkpoint_dir)}: give one of those ("
                         f"{run_list.other_runs(source, checkpoint_dir, FLAG)})")
    settings = load(folder)
    require(settings is not None, f"{FLAG} {source}: {words.folder(folder)} holds no run (no "
                                  f"{RUN_FILE}): give a run folder, or a checkpoint in one")
    checkpoint = checkpoint or next(iter(checkpoint_files.complete(folder)), None)
    require(checkpoint, f"{FLAG} {source}: {folder}/ holds no checkpoint: train that run first, "
                        "or give another")
    return settings, os.path.normpath(checkpoint)


def check_same_network(source, run, given):
    """Raise UsageError naming the first network setting where run `source` differs from
    `run` (the new run's settings); `given`: the path --init_from was given."""
    for field in dataclasses.fields(source.model):
        old, new = getattr(source.model, field.name), getattr(run.model, field.name)
        if old == new:
            continue
        if field.name in _FROM_DATASET:
            raise UsageError(f"{FLAG} {given} has {old} {_FROM_DATASET[field.name]} "
                             f"({field.name}), this run's --dataset {run.dataset} has {new}: "
                             "start from a run of the same kind of pictures")
        raise UsageError(f"{FLAG} {given} was trained with {field.name}={old}, not {new}: "
                         f"pass --{field.name} {old} (the network must be the same)")


def check_new_run(run, saved):
    """Raise UsageError when --init_from is given for a run that has trained (`saved`, with a
    checkpoint of its own), unless that run itself started from the same checkpoint: then the
    same command resumes it and --init_from, which only sets step 0, changes nothing."""
    require(run.distribute == "none", f"{FLAG} trains in one process: drop --distribute")
    if saved is None or not checkpoint_files.complete(saved.run_checkpoint_dir):
        return
    same = saved.init_from and os.path.realpath(saved.init_from) == \
        os.path.realpath(run.init_from)
    require(same, f"{FLAG} starts a new run, but {saved.run_checkpoint_dir} has trained "
                  "already (it would throw its training away): drop --init_from to resume "
                  "it, or pass --name NAME for a new run")


def network_names(reader_shapes):
    """The names of the network variables (G and D) among a checkpoint's variable names."""
    return sorted(name for name in reader_shapes
                  if name.startswith(("generator/", "discriminator/"))
                  and not any(part in name for part in _NOT_NETWORK))


def resolve(flags, present, run, saved):
    """`run` (the settings `dcgan.runs.training_run` built) with `init_from` the source
    checkpoint's path, after every check that --init_from may start it: the source is a
    trained run of the same network, readable, and `run` is new (see `check_new_run`). Raises
    UsageError before anything is written.

    The kernel side of G's deconvolutions is the source's unless --g_kernel is given
    (`present` names the flags given): it is the one network setting a recipe picks, so a
    source trained under another recipe (a 5x5 carpedm20 run) would otherwise be refused.
    """
    given = flags["init_from"]
    source, path = source_of(given, flags["checkpoint_dir"])
    run = run.replace(init_from=path)
    if "g_kernel" not in present:
        run = run.replace(model=dataclasses.replace(run.model, g_kernel=source.model.g_kernel))
    check_new_run(run, saved)
    check_same_network(source, run, given)
    check_readable(path, given)
    return run


def check_readable(path, given):
    """Read every network weight of checkpoint `path` once: raise UsageError (exit 2, before
    the new run writes anything) when it cannot be read or a weight is not finite."""
    import numpy as np

    from dcgan import runtime
    from dcgan.checkpoints import reason_of

    tf = runtime.start()
    try:
        reader = tf.compat.v1.train.load_checkpoint(path)
        for name in network_names(reader.get_variable_to_shape_map()):
            value = reader.get_tensor(name)
            require(np.all(np.isfinite(value)),
                    f"{FLAG} {given}: its weight {name} is not finite (NaN or Inf): give an "
                    "earlier checkpoint of that run")
    # The checkpoint reader raises Python errors for its status codes (a file cut short is an
    # IndexError, "Read less bytes than requested").
    except (tf.errors.OpError, ValueError, IndexError, RuntimeError) as error:
        raise UsageError(f"{FLAG} {given}: checkpoint {path} cannot be read "
                         f"({reason_of(error)}): give another checkpoint") from None


class Transfer:
    """Copies a checkpoint's network weights into a freshly initialised training graph.

    Built with the graph (before it is finalised); `apply` runs once, after the initialiser.
    """

    def __init__(self, path):
        import tensorflow as tf

        from dcgan import model

        tf1 = tf.compat.v1
        self.path = path
        variables = [v for scope in (model.GENERATOR_SCOPE, model.DISCRIMINATOR_SCOPE)
                     for v in model.scoped_variables(scope)]
        names = set(network_names([v.op.name for v in variables]))
        self.variables = {v.op.name: v for v in variables if v.op.name in names}
        self.saver = tf1.train.Saver(var_list=self.variables)
        # The EMA shadows start at the weights just restored (see the module's docstring).
        self.copy_to_shadows = tf.group(*[tf1.assign(shadow, variable)
                                          for variable, shadow in model.ema_pairs()])

    def apply(self, session):
        """Restore the network weights from the checkpoint; its other variables stay as
        initialised. Raises UsageError when a shape differs (a run.json that lies)."""
        import tensorflow as tf

        try:  # checked when the run started; a resume whose checkpoints are gone comes here
            shapes = tf.compat.v1.train.load_checkpoint(self.path).get_variable_to_shape_map()
        except (tf.errors.OpError, ValueError) as error:
            raise UsageError(f"{FLAG} {self.path} cannot be read ({error}): give a source "
                             "that can, or pass --name NAME for a new run") from None
        for name, variable in self.variables.items():
            there = shapes.get(name)
            require(there == variable.shape.as_list(),
                    f"{FLAG} {self.path} holds another network ({name} is {there} there, "
                    f"{variable.shape.as_list()} here): give a run of this network")
        self.saver.restore(session, self.path)
        session.run(self.copy_to_shadows)
