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
- Thread pools that follow each session's configuration. TensorFlow gives every CPU device of
  a process one shared intra-op pool, sized by the first device it creates; building the
  training graph's tf.data map traces a function, which starts the eager context with the
  default configuration (every core) before the run's session exists, so `--intra_op_threads`
  was ignored: "1 thread" computed on two (measured: two threads with equal CPU time, 1.8
  cores busy per worker on a 2-core Xeon; bench/README.md). TF_OVERRIDE_GLOBAL_THREADPOOL=1,
  TensorFlow's own switch, gives each session's devices the pool its ConfigProto asks for. It
  is read once, when the process creates its first device, so `start` sets it before that.
- A quiet start. TensorFlow's C++ libraries log a few lines while they load, before they have
  read TF_CPP_MIN_LOG_LEVEL: oneDNN's "custom operations are on" note (INFO, once from each of
  two libraries) and absl's "All log messages before absl::InitializeLog()" notice before each.
  No setting reaches them (TF_ENABLE_ONEDNN_OPTS=1 still prints the note; =0 would switch off
  oneDNN, which is 3x faster), so while TensorFlow loads, file descriptor 2 goes through a filter
  that drops those lines when TF_CPP_MIN_LOG_LEVEL hides INFO; every other line passes.
  Deprecation notices of TensorFlow's Python API are advice for this package's code, not for
  its users: `hide_deprecation_notices` keeps them off the console.
"""

import contextlib
import logging
import os
import sys
import threading

from dcgan import precision

# TensorFlow's switch that sizes each session's intra-op pool by its own ConfigProto instead of
# by the process's first device (see the module docstring).
OWN_THREAD_POOLS = "TF_OVERRIDE_GLOBAL_THREADPOOL"
# Lines TensorFlow's libraries print while loading (see the module docstring).
NATIVE_START_LINES = (b"absl::InitializeLog()", b"oneDNN custom operations are on",
                      b"cpu_feature_guard.cc", b"rebuild TensorFlow with the appropriate")


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


def _hides_info():
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    return level.isdigit() and int(level) >= 1


@contextlib.contextmanager
def dropped_lines(markers, fd=2):
    """While the block runs, drop the lines written to file descriptor `fd` that contain one of
    the byte strings `markers`; the others pass on as they come (C++ code writes to the
    descriptor itself, past sys.stderr)."""
    sys.stderr.flush()
    original = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)

    def forward():
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            for line in pipe:
                if not any(marker in line for marker in markers):
                    os.write(original, line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, fd)  # closes the pipe's last write end: the reader sees its end
        thread.join(timeout=10)
        if not thread.is_alive():  # else some library kept a copy of the pipe: leave it be
            os.close(original)


def _not_a_deprecation(record):
    return "is deprecated and will be removed" not in record.getMessage()


def hide_deprecation_notices():
    """Keep TensorFlow's API deprecation notices (for developers) and its Python INFO lines
    ("Restoring parameters from ...": this package says what it restores) off the console."""
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addFilter(_not_a_deprecation)
    tf_logger.setLevel(logging.WARNING)


def start():
    """Import TensorFlow (without Keras where it is not loaded yet) in graph mode; returns it.

    The libraries' loading lines are dropped when TF_CPP_MIN_LOG_LEVEL hides INFO (the command
    line sets 2 unless --verbose). Safe to call any number of times: the second call finds
    everything done. Sets TF_OVERRIDE_GLOBAL_THREADPOOL=1 unless the environment sets it:
    effective where no TensorFlow device exists yet in this process.
    """
    os.environ.setdefault(OWN_THREAD_POOLS, "1")
    skip_keras()
    if "tensorflow" not in sys.modules and _hides_info():
        with dropped_lines(NATIVE_START_LINES):
            import tensorflow  # noqa: F401  (loaded here, where its loading lines are dropped)
    import tensorflow as tf

    if tf.compat.v1.executing_eagerly_outside_functions():
        tf.compat.v1.disable_eager_execution()
    return tf


def gpu_count():
    """How many GPUs TensorFlow sees."""
    return len(start().config.list_physical_devices("GPU"))


def has_gpu():
    """True when TensorFlow sees a GPU."""
    return gpu_count() > 0


def resolve_precision(settings, cpuinfo=precision.CPUINFO, sampling=False):
    """`settings` with the precision this machine really computes in: `auto` decided (and
    said in one line), a fall-back from bf16 logged. `cpuinfo` is the CPU description read;
    `sampling`: the session only runs a trained generator (`precision.effective`)."""
    wanted = settings.precision
    gpu = wanted != "fp32" and has_gpu()
    return settings.replace(precision=precision.effective(wanted, gpu=gpu, cpuinfo=cpuinfo,
                                                          sampling=sampling))


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
