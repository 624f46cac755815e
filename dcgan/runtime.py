"""Starting TensorFlow for this package's graph code, and the session configuration of a run.

Three things every mode needs before its first graph, kept here so that no module does them as
a side effect of being imported:

- TensorFlow without Keras. `import tensorflow` (2.18-2.21) eagerly imports Keras 3 only so that
  Keras's optimizers register for SavedModel loading, and Keras pulls in scikit-learn,
  scipy.stats and matplotlib: seconds of start-up for nothing this package uses (bench/README.md
  has the figures). TensorFlow wraps that import in `try/except ImportError`, so marking Keras
  absent is a supported path, not a patch.
- Graph mode: the package is TF1-style code (placeholders, sessions, variable scopes).
- The precision a run really computes in, resolved once per trainer or sampler: `auto` decided
  and said in one line, a bf16 that falls back to fp32 said too (`dcgan.precision` holds the
  rule).
"""

import sys

from dcgan import precision


def skip_keras():
    """Make a later `import tensorflow` in this process skip Keras; returns whether it will.

    Call it before anything imports TensorFlow. It does nothing (and returns False) when
    TensorFlow or Keras is already imported, so code that really uses Keras is never broken.
    """
    if "tensorflow" in sys.modules or sys.modules.get("keras") is not None:
        return False
    # A None entry makes `import keras` raise ImportError without searching for it.
    sys.modules["keras"] = None
    return True


def start():
    """Import TensorFlow (without Keras where it is not loaded yet) in graph mode; returns it.

    Safe to call any number of times: the second call finds everything done.
    """
    skip_keras()
    import tensorflow as tf

    if tf.compat.v1.executing_eagerly_outside_functions():
        tf.compat.v1.disable_eager_execution()
    return tf


def has_gpu():
    """True when TensorFlow sees a GPU."""
    return bool(start().config.list_physical_devices("GPU"))


def resolve_precision(settings, cpuinfo=precision.CPUINFO):
    """`settings` with the precision this machine really computes in: `auto` decided (and
    said in one line), a fall-back from bf16 logged. `cpuinfo` is the CPU description read."""
    wanted = settings.precision
    gpu = wanted != "fp32" and has_gpu()
    return settings.replace(precision=precision.effective(wanted, gpu=gpu, cpuinfo=cpuinfo))


def session_config(settings):
    """ConfigProto with the run's thread counts (0 lets TensorFlow use every core) and, for a
    resolved `precision="bf16"`, Grappler's oneDNN bf16 rewrite."""
    tf = start()
    from tensorflow.core.protobuf import rewriter_config_pb2

    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=settings.intra_op_threads,
                                      inter_op_parallelism_threads=settings.inter_op_threads)
    if settings.precision == "bf16":
        config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = \
            rewriter_config_pb2.RewriterConfig.ON
    return config
