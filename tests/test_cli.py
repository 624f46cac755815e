"""Bad flags and missing runs: one line naming the problem, exit status 2, no traceback.

The flag table runs in this process (helpers.refusal: absl's parsing and cli.run, as main.py
runs them, stopped where TensorFlow would start); a few of its rows also run as `python main.py`
for the contract itself: exit status 2, one `error:` line, no traceback, nothing written.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import copy_photos, files_under, main_in_process, refusal, run_main

# Each command and a part of the one line that refuses it. `a_file` is a plain file in the
# working folder.
BAD_FLAGS = [
    (["--train", "--batch_size", "0"], "--batch_size must be a positive number, not 0"),
    (["--train", "--epoch", "-1"], "--epoch must be a positive number, not -1"),
    (["--train", "--epoch", "x"], "flag --epoch=x: invalid literal for int()"),
    (["--train", "--learning_rate", "0"], "--learning_rate must be a positive number, not 0.0"),
    (["--train", "--beta1", "1.5"], "--beta1 must be in [0, 1), not 1.5"),
    (["--train", "--z_dim", "0"], "--z_dim must be a positive number, not 0"),
    (["--train", "--z_dist", "cauchy"], "--z_dist must be one of uniform_signed,"),
    (["--train", "--dataset", "anime", "--output_size", "4"],
     "--output_size 4x4 is too small: the networks need at least 8 pixels a side"),
    (["--train", "--dataset", "anime", "--image_size", "32", "--output_size", "64"],
     "--image_size 32x32 is smaller than --output_size 64x64"),
    (["--train", "--dataset", "mnist", "--output_size", "64"],
     "--dataset mnist trains on 28x28 digits: drop --output_size/--image_size/--crop"),
    (["--train", "--dataset", "../etc"],
     "--dataset must be a folder name under --data_dir, not '../etc'"),
    (["--train", "--no_such_flag"], "Unknown command line flag 'no_such_flag'"),
    (["--train", "--visualize"], "choose one mode: --train or --visualize or --evaluate or "
                                 "--export or --serve or --list (got --train, --visualize)"),
    ([], "choose one mode: --train or --visualize"),
    (["--visualize"], "no trained checkpoint in checkpoints/ ("),  # (the working folder's)
    (["--visualize"], "/checkpoints): train one first with `python main.py --dataset mnist "
                      "--train`"),
    (["--visualize", "--dataset", "anime"], "no trained checkpoint of anime in checkpoints/"),
    (["--train", "--g_steps", "0"], "--g_steps must be a positive number, not 0"),
    (["--train", "--sample_freq", "0"], "--sample_freq must be a positive number, not 0"),
    (["--train", "--intra_op_threads", "-2"], "--intra_op_threads must be 0 (automatic) or more"),
    (["--train", "stray_argument"], "unexpected argument 'stray_argument': flags start with --"),
    (["--train", "--dataset", "anime", "--output_size", "-16"],
     "--output_size must be a positive number, not -16"),
    (["--train", "--dataset", "anime", "--image_size", "0"],
     "--image_size must be a positive number, not 0"),
    (["--train", "--dataset", "anime", "--output_height", "7", "--output_width", "64"],
     "--output_size 7x64 is too small"),
    (["--train", "--learning_rate", "-1e-4"], "--learning_rate must be a positive number"),
    (["--train", "--learning_rate", "fast"], "flag --learning_rate=fast: could not convert"),
    (["--train", "--batch_size", "2.5"], "flag --batch_size=2.5: invalid literal for int()"),
    (["--train", "--max_to_keep", "0"], "--max_to_keep must be a positive number, not 0"),
    (["--train", "--num_samples", "0"], "--num_samples must be a positive number, not 0"),
    (["--train", "--dataset", "mnist", "--crop"], "--dataset mnist trains on 28x28 digits"),
    # A folder inside a plain file: found when the run's folders are made.
    (["--train", "--checkpoint_dir", "a_file/checkpoints"],
     "--checkpoint_dir a_file/checkpoints: cannot write in a_file/checkpoints/mnist_64_28_28 "
     "(Not a directory): pick a writable folder with --checkpoint_dir"),
    (["--train", "--sample_dir", "a_file/samples"], "--sample_dir a_file/samples: cannot write"),
    (["--train", "--tensorboard_dir", "a_file/logs"],
     "--tensorboard_dir a_file/logs: cannot write"),
    (["--evaluate", "--seed", "1e23"], "flag --seed=1e23: invalid literal for int()"),
    (["--train", "--num_samples", "100000000"], "--num_samples 100000000 is more than 65536"),
    (["--train", "--name", "a/b"], "--name must be a folder name under --checkpoint_dir"),
    (["--train", "--steps", "0"], "--steps is the step to stop at"),
    (["--train", "--steps", "-5"], "--steps is the step to stop at"),
    (["--train", "--steps", "2.5"], "flag --steps=2.5"),
    (["--train", "--minutes", "0"], "--minutes is this launch's training time"),
    (["--train", "--minutes", "-1"], "--minutes is this launch's training time"),
    (["--train", "--minutes", "ten"], "flag --minutes=ten"),
    (["--train", "--minutes", "nan"], "--minutes is this launch's training time"),
    (["--train", "--checkpoint", "500"],  # training resumes the newest
     "--checkpoint is for --visualize, --evaluate, --export, not --train: drop it"),
    (["--serve", "--name", ".."], "--name must be a folder name under --export_dir, not '..'"),
    (["--visualize", "--checkpoint", "ck/DCGAN.model-5", "--name", "x"],  # the path picks a run
     "--checkpoint ck/DCGAN.model-5 is a path, which picks its run: drop --name"),
]
# Rows run as `python main.py` too: absl's parsing, a check of each mode (--train's after the
# run's folders are looked at), a mode with no run to read, a flag the mode does not read.
MAIN_PY_ROWS = [
    ["--train", "--epoch", "x"],
    ["--train", "--checkpoint_dir", "a_file/checkpoints"],
    ["--visualize", "--dataset", "anime"],
    ["--evaluate", "--seed", "-1"],
    ["--serve", "--name", ".."],
    ["--visualize", "--epoch", "5"],  # a flag the mode does not read (tests/test_mode_flags.py)
]


def _in_a_working_folder(tmp_path, monkeypatch):
    """tmp_path holding a plain file `a_file`, as the working folder; returns its listing."""
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    return files_under(tmp_path)


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(args, message, id=" ".join(args) or "no-mode") for args, message in BAD_FLAGS])
def test_bad_flags_are_refused_in_one_line(args, message, tmp_path, monkeypatch):
    before = _in_a_working_folder(tmp_path, monkeypatch)
    line = refusal(args)
    assert message in line and "\n" not in line, line
    # Nothing written: not even the run folders made before an unwritable one was refused.
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("args", [["--evaluate", "--seed", "-1"],
                                  ["--evaluate", "--seed", "100000000000000000000000"],
                                  ["--train", "--seed", "100000000000000000000000"],
                                  ["--train", "--seed", "-5"]], ids=" ".join)
def test_the_seed_is_checked_in_every_mode_that_takes_one(args, tmp_path, monkeypatch):
    # One rule: numpy, TensorFlow, scikit-learn and the web page all take 0..2**31-1.
    before = _in_a_working_folder(tmp_path, monkeypatch)
    assert "--seed must be in 0..2147483647" in refusal(args)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("args", MAIN_PY_ROWS, ids=" ".join)
def test_main_py_refuses_with_status_2_one_line_and_nothing_written(args, tmp_path, monkeypatch):
    """Slow on purpose (a Python start each): main.py's own contract, which the in-process
    table above leaves to these rows. Exit status 2, one `error:` line that is the in-process
    refusal word for word, no traceback, nothing written."""
    before = _in_a_working_folder(tmp_path, monkeypatch)
    expected = f"error: {refusal(args)}"
    result = run_main(args, tmp_path, timeout=120)
    assert_one_line_exit_2(result)
    assert result.stderr.strip() == expected
    assert files_under(tmp_path) == before


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
    (errors found while reading the data), this package's INFO and WARNING lines and progress
    bars may come before it, and nothing else (TensorFlow loads quietly).
    """
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    if not after_start:
        assert len(lines) == 1, result.stderr
    for line in lines[:-1]:
        # a progress line, as dcgan.progress prints it where stderr is no terminal
        assert line.startswith(("INFO: ", "WARNING: ")) or \
            re.match(r"[^:]+: +\d+% \d+/\d+ \[", line), result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def test_empty_dataset_folder_and_too_few_images(tmp_path):
    """The first refusal runs main.py (the contract: after the run's first lines, one error
    line and exit 2); the others run in-process, their lines being the subject."""
    # Found when the data is read, after the run's first line (its precision).
    missing = run_main(["--train", "--dataset", "nothing_here"], tmp_path)
    assert_one_line_exit_2(missing, f"no data folder data/nothing_here/ "
                                    f"({tmp_path / 'data' / 'nothing_here'}): put pictures there",
                           after_start=True)
    (tmp_path / "data" / "anime").mkdir(parents=True)
    empty = main_in_process(["--train", "--dataset", "anime"], tmp_path)
    assert_one_line_exit_2(empty, "no pictures", after_start=True)
    copy_photos(tmp_path / "data" / "anime", 5)
    few = main_in_process(["--train", "--dataset", "anime", "--batch_size", "8"], tmp_path)
    assert_one_line_exit_2(few, "5 usable images, fewer than --batch_size 8", after_start=True)
    small = main_in_process(["--train", "--dataset", "anime", "--batch_size", "4",
                             "--train_size", "2"], tmp_path)
    assert_one_line_exit_2(small, "--train_size 2 is smaller than --batch_size 4", after_start=True)
    unmatched = main_in_process(["--train", "--dataset", "anime", "--input_fname_pattern",
                                 "*.png"], tmp_path)
    assert_one_line_exit_2(unmatched, "no pictures matching '*.png'", after_start=True)


def test_a_read_only_checkpoint_folder_exits_2_before_training(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the a_file/... cases above cover an "
                    "unwritable --checkpoint_dir when running as root")
    (tmp_path / "locked").mkdir(mode=0o555)
    result = run_main(["--train", "--checkpoint_dir", "locked"], tmp_path)
    assert_one_line_exit_2(result, "--checkpoint_dir locked: cannot write")


def test_the_installed_dcgan_command_names_itself_in_its_messages(tmp_path):
    """Messages suggest the command the user typed: `dcgan ...` after `dcgan`, `python main.py
    ...` after main.py (the rows above)."""
    script = Path(sys.executable).with_name("dcgan")
    if not script.is_file():
        pytest.skip(f"{script} is absent: the package is not installed in this environment")
    result = subprocess.run([str(script), "--visualize"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    assert_one_line_exit_2(result, f"in checkpoints/ ({tmp_path / 'checkpoints'}): train one "
                                   "first with `dcgan --dataset mnist --train`")
    from dcgan import cli, words
    from dcgan.errors import UsageError

    try:
        with pytest.raises(UsageError, match=r"\(see `dcgan --help`\)$"):
            cli.parse(["/usr/local/bin/dcgan", "--no_such_flag"])
    finally:
        cli.FLAGS.unparse_flags()
        words.started_as("main.py")
    assert words.command() == "python main.py"


def test_list_prints_a_line_per_run(tmp_path):
    from test_runs import _saved_run

    empty = main_in_process(["--list"], tmp_path)
    assert (empty.returncode, empty.stderr) == (0, "")
    assert empty.stdout == (f"no runs in checkpoints/ ({tmp_path / 'checkpoints'}): train one "
                            "with `python main.py --dataset FOLDER --train`\n")
    _saved_run(tmp_path / "checkpoints", batch_size=8)
    listed = main_in_process(["--list", "--dataset", "anime"], tmp_path)
    assert listed.returncode == 0 and listed.stderr == ""
    header, run = listed.stdout.splitlines()
    assert header.split()[:2] == ["RUN", "DATA"] and run.split()[:2] == ["anime_8_48_32",
                                                                          "anime,"]
    assert "is for --train" in refusal(["--list", "--epoch", "3"])
    assert "--name is for --train, --visualize, --evaluate, --export, --serve, not --list" in \
        refusal(["--list", "--name", "anime_8_48_32"])
