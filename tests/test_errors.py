"""Errors say what really happened: each failure in its own words, in one line, no traceback.

Real files and real processes: MNIST files damaged the way downloads are, a data folder this
user may not write, a port this user may not bind. None of them has anything to do with a
checkpoint, so no message may claim one is intact.
"""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    MAIN,
    MNIST_DIR,
    TINY_FLAGS,
    copy_faces,
    main_in_process,
    need_shared,
    run_main,
    without_capabilities,
)

HTML = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body></body></html>\n"


def one_error_line(result, status):
    """The single `error:` line of a run that ended with `status`, after checking no traceback
    was printed and no checkpoint was claimed intact."""
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "intact" not in errors[0] and "free some disk space" not in errors[0], errors[0]
    return errors[0]


def _html_as_gz(source):
    return HTML


def _truncated_gz(source):
    return source[:len(source) // 2]  # an interrupted download: gzip's EOFError


def _plain_garbage(source):
    return b"\x00\x00"  # too short for an IDX header


DAMAGE = {"an HTML page saved as .gz": ("train-images-idx3-ubyte.gz", _html_as_gz,
                                        "is not a complete gzip file"),
          "a truncated .gz": ("train-images-idx3-ubyte.gz", _truncated_gz,
                              "is not a complete gzip file"),
          "a two-byte IDX file": ("train-images-idx3-ubyte", _plain_garbage,
                                  "is not an unsigned-byte IDX file"),
          "a gzip of the wrong IDX": ("train-images-idx3-ubyte.gz",
                                      lambda source: gzip.compress(b"\0\0\x08\x01\0\0\0\x02ab"),
                                      "are not an MNIST pair")}


def damaged_mnist(workdir, damage):
    """A data/mnist folder in `workdir` whose `damage` file is damaged that way; returns the
    damaged file's name and the words its error line must hold."""
    need_shared(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    name, make, words = DAMAGE[damage]
    folder = workdir / "data" / "mnist"
    folder.mkdir(parents=True)
    shutil.copy(MNIST_DIR / "train-labels-idx1-ubyte.gz", folder)
    source = (MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()
    (folder / name).write_bytes(make(source))
    return name, words


MNIST_TRAIN = ["--dataset", "mnist", "--train", "--epoch", "1"]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_mnist_file_is_named_in_one_line(tmp_path, damage):
    """In-process: the line and the status are the subject; main.py's own contract for such a
    line (status 2, no traceback) is the next test's."""
    name, words = damaged_mnist(tmp_path, damage)
    line = one_error_line(main_in_process(MNIST_TRAIN, tmp_path), 2)
    assert f"data/mnist/{name} " in line and words in line and "download MNIST again" in line


def test_a_damaged_mnist_file_ends_main_py_with_status_2_and_one_line(tmp_path):
    name, words = damaged_mnist(tmp_path, "a truncated .gz")
    line = one_error_line(run_main(MNIST_TRAIN, tmp_path), 2)
    assert f"data/mnist/{name} " in line and words in line


def test_a_read_only_data_folder_is_named_and_no_checkpoint_is_claimed(tmp_path):
    copy_faces(tmp_path / "data" / "anime", 16)
    os.chmod(tmp_path / "data", 0o555)  # the image cache cannot be made beside the dataset
    try:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        result = subprocess.run([*without_capabilities("dac_override", "dac_read_search"),
                                 sys.executable, str(MAIN), "--dataset", "anime", "--train",
                                 "--epoch", "1", *TINY_FLAGS], cwd=tmp_path, env=env, text=True,
                                capture_output=True, timeout=300)
    finally:
        os.chmod(tmp_path / "data", 0o755)
    assert result.returncode in (1, 2), result.stderr
    line = one_error_line(result, result.returncode)
    # Names the folder and why (the wording may name the image cache, whose folder it is).
    assert "data/" in line and ("Permission denied" in line or "cache" in line), line


def _privileged_ports_bind():
    """Whether this machine lets anyone bind port 80 (then there is no privilege to lack)."""
    path = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    return path.exists() and int(path.read_text()) <= 80


def test_serving_on_a_privileged_port_says_so(tmp_path):
    """main.py --serve on port 80 without the privilege: status 2, one `error:` line naming
    the port and --port, no traceback (test_serve's own start-up of the same check merged here)."""
    if _privileged_ports_bind():
        pytest.skip("this machine lets every user bind port 80")
    page = tmp_path / "export" / "anime_8_16_16" / "web"
    page.mkdir(parents=True)
    (page / "model.json").write_text(json.dumps({"dataset": "anime"}))
    (page / "index.html").write_text("<html></html>")
    result = subprocess.run([*without_capabilities("net_bind_service"), sys.executable,
                             str(MAIN), "--serve", "--port", "80"], cwd=tmp_path, text=True,
                            capture_output=True, timeout=60)
    line = one_error_line(result, 2)
    assert "port 80 needs privileges" in line and "--port" in line


def test_a_graph_error_line_is_its_reason_and_node_not_tensorflows_first_line():
    import numpy as np

    from dcgan import checkpoints, runtime

    tf = runtime.start()
    tf1 = tf.compat.v1
    with tf.Graph().as_default():
        values = tf1.placeholder(tf.float32, [None])
        three = tf.reshape(values, [3], name="to_three")
        with tf1.Session() as session, pytest.raises(tf.errors.OpError) as raised:
            session.run(three, {values: np.zeros(4, np.float32)})
    assert raised.value.message.startswith("Graph execution error")
    assert checkpoints.reason_of(raised.value, with_node=True) == \
        "Input to reshape is a tensor with 4 values, but the requested shape has 3 " \
        "(at node to_three)"
