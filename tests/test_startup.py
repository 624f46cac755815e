"""main.py starts TensorFlow without Keras (seconds sooner), and TensorFlow still works."""

import subprocess
import sys

from helpers import REPO

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
