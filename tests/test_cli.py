"""Bad flags and missing runs: one line naming the problem, exit status 2, no traceback."""

import pytest
from conftest import run_main

BAD_FLAGS = [
    ["--train", "--batch_size", "0"],
    ["--train", "--epoch", "-1"],
    ["--train", "--epoch", "x"],
    ["--train", "--learning_rate", "0"],
    ["--train", "--beta1", "1.5"],
    ["--train", "--z_dim", "0"],
    ["--train", "--z_dist", "cauchy"],
    ["--train", "--dataset", "anime", "--output_size", "4"],
    ["--train", "--dataset", "anime", "--image_size", "32", "--output_size", "64"],
    ["--train", "--dataset", "mnist", "--output_size", "64"],
    ["--train", "--dataset", "nothing_here"],
    ["--train", "--dataset", "../etc"],
    ["--train", "--no_such_flag"],
    ["--train", "--visualize"],
    [],
    ["--visualize"],
    ["--visualize", "--dataset", "anime"],
    ["--train", "--g_steps", "0"],
    ["--train", "--sample_freq", "0"],
    ["--train", "--intra_op_threads", "-2"],
    ["--train", "stray_argument"],
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=lambda a: " ".join(a) or "no-mode")
def test_bad_flags_exit_2_with_one_line(args, tmp_path):
    result = run_main(args, tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines()
             if line.strip() and not _tensorflow_startup_noise(line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr


def _tensorflow_startup_noise(line):
    return "absl::InitializeLog" in line or "oneDNN custom operations" in line


def test_empty_dataset_folder_and_too_few_images(tmp_path):
    (tmp_path / "data" / "anime").mkdir(parents=True)
    empty = run_main(["--train", "--dataset", "anime"], tmp_path)
    assert empty.returncode == 2 and "no pictures" in empty.stderr
    from conftest import copy_faces

    copy_faces(tmp_path / "data" / "anime", 5)
    few = run_main(["--train", "--dataset", "anime", "--batch_size", "8"], tmp_path)
    assert few.returncode == 2 and "5 usable images, fewer than --batch_size 8" in few.stderr
