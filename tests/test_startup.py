"""main.py starts TensorFlow without Keras (seconds sooner), and TensorFlow still works."""

import ast
import os
import subprocess
import sys

import pytest
from helpers import REPO, copy_photos

from dcgan import runtime

# Importing main.py (flags and the Keras skip) and then TensorFlow, as every mode does.
PROBE = """
import sys
sys.argv = ["main.py"]
import main
import tensorflow as tf
tf1 = tf.compat.v1
with tf.Graph().as_default(), tf1.Session() as session:
    kernel = tf.fill([1, 1, 1, 1], 2.0)
    total = session.run(tf.reduce_sum(tf.nn.conv2d(tf.ones([1, 4, 4, 1]), kernel, 1, "SAME")))
print(total, sorted({name.split(".")[0] for name, module in sys.modules.items()
                     if module is not None
                     and name.split(".")[0] in ("keras", "sklearn", "matplotlib")}))
"""


def test_main_imports_tensorflow_without_keras():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # 16 ones times a 1x1 kernel of 2.
    assert result.stdout.split()[0] == "32.0"
    # Keras pulls scikit-learn and matplotlib in with it; none of them may load.
    assert result.stdout.strip().endswith("[]"), result.stdout


def test_skip_keras_leaves_an_already_started_tensorflow_alone():
    import tensorflow  # noqa: F401  (what the tests' own process has done already)

    before = sys.modules.get("keras", "absent")
    assert runtime.skip_keras() is False
    assert sys.modules.get("keras", "absent") is before


# Trains through main.py's code in a fresh process (TensorFlow's intra-op pool is sized by the
# first device a process makes: only a new process shows what a user's gets), then prints the
# CPU seconds of each thread but the main one, busiest first.
THREADS_PROBE = """
import os, sys
flags, sys.argv = sys.argv[1:], ["main.py"]
import main
from dcgan import cli
cli.main(cli.parse(["main.py", *flags]))
ticks = []
for tid in os.listdir("/proc/self/task"):
    if int(tid) != os.getpid():
        with open(f"/proc/self/task/{tid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
print(sorted(ticks, reverse=True)[:2])
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every pool has one thread")
def test_one_intra_op_thread_computes_on_one_thread(tmp_path):
    # The tf.data map traced while the graph is built starts the eager context with every core
    # as its pool; the run's --intra_op_threads 1 must still give one compute thread, not two
    # that share the work (the default precision, as users run it).
    copy_photos(tmp_path / "data" / "anime", 64)
    flags = ["--dataset", "anime", "--train", "--steps", "12", "--output_size", "32",
             "--image_size", "96", "--batch_size", "32", "--gf_dim", "32", "--df_dim", "32",
             "--intra_op_threads", "1", "--inter_op_threads", "1"]
    result = subprocess.run([sys.executable, "-c", THREADS_PROBE, *flags], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr
    busiest, second = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert busiest > 0.5  # the training computed here
    assert second < 0.2 * busiest, (busiest, second)
