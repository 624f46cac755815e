"""Bad flags and missing runs: one line naming the problem, exit status 2, no traceback."""

import os

import pytest
from helpers import copy_photos, run_main

BAD_FLAGS = [
    ["--train", "--batch_size", "0"],
    ["--train", "--epoch", "-1"],
    ["--train", "--epoch", "x"],
    ["--train", "--steps", "0"],
    ["--train", "--steps", "-5"],
    ["--train", "--steps", "2.5"],
    ["--train", "--minutes", "0"],
    ["--train", "--minutes", "-1"],
    ["--train", "--minutes", "ten"],
    ["--train", "--minutes", "nan"],
    ["--train", "--learning_rate", "0"],
    ["--train", "--beta1", "1.5"],
    ["--train", "--z_dim", "0"],
    ["--train", "--z_dist", "cauchy"],
    ["--train", "--dataset", "anime", "--output_size", "4"],
    ["--train", "--dataset", "anime", "--image_size", "32", "--output_size", "64"],
    ["--train", "--dataset", "mnist", "--output_size", "64"],
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
    ["--train", "--dataset", "anime", "--output_size", "-16"],
    ["--train", "--dataset", "anime", "--image_size", "0"],
    ["--train", "--dataset", "anime", "--output_height", "7", "--output_width", "64"],
    ["--train", "--learning_rate", "-1e-4"],
    ["--train", "--learning_rate", "fast"],
    ["--train", "--batch_size", "2.5"],
    ["--train", "--max_to_keep", "0"],
    ["--train", "--num_samples", "0"],
    ["--train", "--dataset", "mnist", "--crop"],
    ["--train", "--checkpoint_dir", "a_file/checkpoints"],  # a folder inside a plain file
    ["--train", "--sample_dir", "a_file/samples"],
    ["--train", "--tensorboard_dir", "a_file/logs"],
    ["--evaluate", "--seed", "1e23"],
    ["--train", "--num_samples", "100000000"],
    ["--train", "--name", "a/b"],
    ["--train", "--checkpoint", "500"],  # training resumes the newest
    ["--serve", "--name", ".."],
    ["--visualize", "--checkpoint", "ck/DCGAN.model-5", "--name", "x"],  # the path picks a run
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=lambda a: " ".join(a) or "no-mode")
def test_bad_flags_exit_2_with_one_line(args, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    assert_one_line_exit_2(run_main(args, tmp_path, timeout=120))


@pytest.mark.parametrize("args", [["--evaluate", "--seed", "-1"],
                                  ["--evaluate", "--seed", "100000000000000000000000"],
                                  ["--train", "--seed", "100000000000000000000000"],
                                  ["--train", "--seed", "-5"]], ids=" ".join)
def test_the_seed_is_checked_in_every_mode_that_takes_one(args, tmp_path):
    # One rule: numpy, TensorFlow, scikit-learn and the web page all take 0..2**31-1.
    assert_one_line_exit_2(run_main(args, tmp_path), "--seed must be in 0..2147483647")


@pytest.mark.parametrize("given, message", [
    ({"steps": 0}, "--steps is the step to stop at (the run's total, like --epoch), a positive "
                   "number such as 5000, not 0"),
    ({"steps": -5}, "not -5"),
    ({"minutes": 0.0}, "--minutes is this launch's training time, a positive number such as 10 "
                       "or 0.5, not 0.0"),
    ({"minutes": -1.0}, "not -1.0"),
    ({"minutes": float("nan")}, "not nan"),
    ({"minutes": float("inf")}, "not inf"),
], ids=str)
def test_a_budget_that_is_not_a_positive_number_is_refused(given, message):
    from dcgan import flag_checks
    from dcgan.errors import UsageError

    with pytest.raises(UsageError) as raised:
        flag_checks.budget_from_flags(given)
    assert message in str(raised.value)
    budget = flag_checks.budget_from_flags({"steps": 3, "minutes": 0.5})
    assert (budget.steps, budget.minutes) == (3, 0.5)
    assert flag_checks.budget_from_flags({}) == flag_checks.Budget()  # no limit


def assert_one_line_exit_2(result, *words, after_start=False):
    """Exit status 2 and one `error:` line holding `words`, no traceback.

    Flag errors come before anything else, so stderr holds that line alone; with `after_start`
    (errors found while reading the data), this package's INFO lines and progress bars may come
    before it, and nothing else (TensorFlow loads quietly).
    """
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    if not after_start:
        assert len(lines) == 1, result.stderr
    for line in lines[:-1]:
        assert line.startswith("INFO: ") or "%|" in line, result.stderr  # "%|": a tqdm bar
    for word in words:
        assert word in errors[0], errors[0]


def test_empty_dataset_folder_and_too_few_images(tmp_path):
    # Found when the data is read, after the run's first line (its precision).
    missing = run_main(["--train", "--dataset", "nothing_here"], tmp_path)
    assert_one_line_exit_2(missing, "no data folder data/nothing_here", after_start=True)
    (tmp_path / "data" / "anime").mkdir(parents=True)
    empty = run_main(["--train", "--dataset", "anime"], tmp_path)
    assert_one_line_exit_2(empty, "no pictures", after_start=True)
    copy_photos(tmp_path / "data" / "anime", 5)
    few = run_main(["--train", "--dataset", "anime", "--batch_size", "8"], tmp_path)
    assert_one_line_exit_2(few, "5 usable images, fewer than --batch_size 8", after_start=True)
    small = run_main(["--train", "--dataset", "anime", "--batch_size", "4", "--train_size", "2"],
                     tmp_path)
    assert_one_line_exit_2(small, "--train_size 2 is smaller than --batch_size 4", after_start=True)
    unmatched = run_main(["--train", "--dataset", "anime", "--input_fname_pattern", "*.png"],
                         tmp_path)
    assert_one_line_exit_2(unmatched, "no pictures matching '*.png'", after_start=True)


def test_a_read_only_checkpoint_folder_exits_2_before_training(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the a_file/... cases above cover an "
                    "unwritable --checkpoint_dir when running as root")
    (tmp_path / "locked").mkdir(mode=0o555)
    result = run_main(["--train", "--checkpoint_dir", "locked"], tmp_path)
    assert_one_line_exit_2(result, "--checkpoint_dir locked: cannot write")
