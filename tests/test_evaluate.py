"""--evaluate, --eval_freq and --ema on real pictures: numbers saved, scalars logged, EMA used."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    TINY_FLAGS,
    carpedm20,
    copy_photos,
    files_under,
    main_in_process,
    photo_arrays,
    progress_lines,
    refusal,
)
from test_cli import assert_one_line_exit_2

from dcgan import checkpoints, model, runs, settings
from dcgan.errors import UsageError
from dcgan.network import ModelConfig
from dcgan.session import TrainedGenerator

tf1 = tf.compat.v1
# 64 pictures give sets of 32 images: small, so NDB gets 8 bins.
EVAL_FLAGS = ["--eval_num", "32", "--ndb_k", "8"]


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    """A tiny anime run trained 16 steps with --ema 0.9 from step 0 and an evaluation every 8
    steps (in-process: its files, numbers and log lines are what the tests read)."""
    work = tmp_path_factory.mktemp("ema")
    copy_photos(work / "data" / "anime", 64)
    result = main_in_process(["--dataset", "anime", "--train", "--epoch", "2", "--seed", "1",
                              "--ema", "0.9", "--ema_start", "0", "--eval_freq", "8",
                              *EVAL_FLAGS, *TINY_FLAGS], work)
    assert result.returncode == 0, result.stderr
    run = settings.load(work / "checkpoints" / "anime_8_16_16")
    return work, run.replace(checkpoint_dir=str(work / "checkpoints")), result.stderr


def _scalars(log_dir):
    values = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith("eval/"):
                    values[(value.tag, event.step)] = value.simple_value
    return values


def test_eval_freq_logs_scalars_and_evaluate_saves_the_same_numbers(ema_run):
    work, run, train_log = ema_run
    assert run.ema == 0.9 and run.eval_freq == 8
    assert "eval step 8: SWD" in train_log and "eval step 16: SWD" in train_log
    scalars = _scalars(work / "logs" / "anime_8_16_16")
    for tag in ("eval/swd", "eval/swd_real_floor", "eval/ndb_over_k", "eval/ndb_js",
                "eval/ms_ssim"):
        assert (tag, 8) in scalars and (tag, 16) in scalars, tag

    result = main_in_process(["--evaluate", *EVAL_FLAGS], work)  # the default precision
    assert result.returncode == 0, result.stderr
    assert "SWD x1e3" in result.stdout and "real vs real" in result.stdout
    assert "EMA weights" in result.stdout
    # One bar over its stages, as lines here (stderr is not a terminal): each names the stage
    # it is in, its last field (the rate before it reads stage/s or, for a slow stage, s/stage).
    lines = progress_lines(result.stderr, "evaluate")
    assert [line.rsplit(", ", 1)[-1] for line in lines] == \
        ["restore]", "generate]", "SWD]", "NDB]", "MS-SSIM]", "done]"], lines
    assert lines[-1].startswith("evaluate: 100% 5/5 [")
    path = work / result.stdout.strip().splitlines()[-1]
    assert path.name == "eval_00016_n32_k8_seed0.json"
    saved = json.loads(path.read_text())
    assert saved["step"] == 16 and saved["ema"] is True and saved["n"] == 32
    assert saved["ndb_meaningful"] is True  # 32 images in 8 bins: 4 a bin
    # Sixteen steps of a tiny GAN are far from the pictures; two halves of them are not.
    assert saved["swd_avg"] > 1.5 * saved["swd_floor_avg"]
    assert saved["ndb_over_k"] >= saved["ndb_over_k_floor"]
    # The in-training evaluation uses the same latent vectors and real images at that step.
    # Precision is this check's subject: sampling computes in fp32 under auto, training in what
    # run.json records (bf16 on a CPU with bfloat16 units), so the same numbers as at step 16
    # need the trainer's precision.
    same = main_in_process(["--evaluate", "--precision", run.precision, *EVAL_FLAGS], work)
    assert same.returncode == 0, same.stderr
    saved = json.loads(path.read_text())
    assert saved["swd_avg"] == pytest.approx(scalars[("eval/swd", 16)], rel=1e-5)
    assert saved["ms_ssim_fake"] == pytest.approx(scalars[("eval/ms_ssim", 16)], rel=1e-5)


def test_evaluate_against_another_folder(own_trained_run, tmp_path):
    work, _ = own_trained_run
    other = copy_photos(tmp_path / "other", 40, start=500)
    result = main_in_process(["--evaluate", "--eval_data", str(other), "--ndb_k", "4"], work)
    assert result.returncode == 0, result.stderr
    saved = json.loads((work / result.stdout.strip().splitlines()[-1]).read_text())
    # The default recipe keeps an EMA of G, and --evaluate scores it.
    assert saved["n"] == 20 and saved["ema"] is True and saved["real_images"] == str(other)


def test_evaluate_reads_names_that_are_not_utf8_and_caches_in_cache_dir(own_trained_run,
                                                                       tmp_path):
    work, _ = own_trained_run
    other = copy_photos(tmp_path / "other", 40, start=500)
    os.rename(next(other.iterdir()), other / os.fsdecode("猫.jpg".encode("shift_jis")))
    cache = tmp_path / "cache"
    result = main_in_process(["--evaluate", "--eval_data", str(other), "--ndb_k", "4",
                              "--cache_dir", str(cache)], work)
    assert result.returncode == 0, result.stderr
    saved = json.loads((work / result.stdout.strip().splitlines()[-1]).read_text())
    assert saved["n"] == 20
    assert len(list((cache / "other").glob("*.npy"))) == 1


def test_other_settings_or_checkpoints_get_their_own_file_and_too_few_a_bin_warns(
        own_trained_run):
    work, _ = own_trained_run
    few = main_in_process(["--evaluate", "--ndb_k", "20"], work)  # 32 images in 20 bins
    assert few.returncode == 0, few.stderr
    assert "32 images in 20 NDB bins is 1.6 a bin" in few.stderr
    assert "use --ndb_k 8 or less" in few.stderr  # 64 faces: --eval_num cannot help here
    assert "meaningless below 4 images a bin" in few.stdout
    older = main_in_process(["--evaluate", "--ndb_k", "8", "--checkpoint", "16"], work)
    assert older.returncode == 0, older.stderr
    assert "NDB bins" not in older.stderr and "meaningless" not in older.stdout
    first, second = (work / r.stdout.strip().splitlines()[-1] for r in (few, older))
    assert (first.name, second.name) == ("eval_00032_n32_k20_seed0.json",
                                         "eval_00016_n32_k8_seed0.json")
    assert json.loads(first.read_text())["ndb_meaningful"] is False
    assert json.loads(second.read_text())["step"] == 16


@pytest.mark.parametrize("args, words", [
    (["--evaluate", "--eval_data", "/no/such/folder"], "--eval_data"),
    (["--evaluate", "--ndb_k", "0"], "--ndb_k"),
    (["--train", "--ema", "1.0"], "--ema"),
    (["--train", "--eval_freq", "-5"], "--eval_freq"),
])
def test_mistakes_are_one_line(trained_run, monkeypatch, args, words):
    """Found before TensorFlow starts, so in this process (helpers.refusal), and nothing is
    written; main.py's exit status 2 and `error: ` prefix are tests/test_cli.py's MAIN_PY_ROWS."""
    work, _ = trained_run
    before = files_under(work)
    monkeypatch.chdir(work)
    line = refusal(args)
    assert words in line and "\n" not in line, line
    assert files_under(work) == before


def test_too_few_real_images_for_the_bins_is_one_line(own_trained_run):
    """Found once the real images are read (after TensorFlow starts): one `error:` line."""
    work, _ = own_trained_run
    result = main_in_process(["--evaluate"], work)  # 64 pictures, K = 100
    assert_one_line_exit_2(result, "2 x --ndb_k = 200", after_start=True)


def test_ema_cannot_be_switched_on_when_resuming(trained_run):
    run = trained_run[1].replace(ema=0.0)  # as a run trained the carpedm20 way
    with pytest.raises(UsageError, match="--ema"):
        runs.check_compatible(run, run.replace(ema=0.999))
    with pytest.raises(UsageError, match="without --ema"):
        TrainedGenerator(run, ema=True)


def test_ema_shadows_follow_the_weights_by_the_decay():
    cfg = ModelConfig(output_height=16, output_width=16, c_dim=3, z_dim=16, gf_dim=8,
                            df_dim=8)
    faces = photo_arrays(8)[:, ::6, ::6]
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        real = tf.constant(faces, tf.float32) / 127.5 - 1.0
        gan = model.DCGAN(cfg, real, choices=carpedm20(ema=0.95))
        pairs = model.ema_pairs()
        names = {v.op.name for v, _ in pairs}
        assert names == {v.op.name for v in model.scoped_variables("generator")
                         if not v.op.name.endswith(("/ema", "Adam_generator",
                                                    "Adam_generator_1"))}
        assert all(not s.trainable for _, s in pairs)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            start = session.run(pairs)
            assert all(np.array_equal(v, s) for v, s in start)  # shadows start as copies
            for _ in range(30):
                session.run(gan.d_optim)
                session.run(gan.g_optim)
            step = session.run(gan.global_step)
            before = session.run([s for _, s in pairs])
            session.run(gan.g_optim)
            after = session.run(pairs)
    rate = 1.0 - min(0.95, (1.0 + step) / (10.0 + step))
    for (weights, shadow), old in zip(after, before, strict=True):
        np.testing.assert_allclose(shadow, old - rate * (old - weights), rtol=1e-4, atol=1e-6)
    # The averages lag behind the trained weights, between them and where training started.
    kernel = next(i for i, (v, _) in enumerate(pairs) if v.op.name.endswith("g_h1/w"))
    weights, shadow = after[kernel]
    first = start[kernel][0]
    assert np.abs(shadow - weights).max() > 0
    assert np.linalg.norm(shadow - weights) < np.linalg.norm(first - weights)


def test_the_sampler_reads_the_averaged_weights(ema_run):
    _, run, _ = ema_run
    folder = run.run_checkpoint_dir
    reader = tf1.train.load_checkpoint(checkpoints.latest(folder))
    shadows = [n for n in reader.get_variable_to_shape_map() if n.endswith("/ema")]
    assert "generator/g_h0_lin/Matrix/ema" in shadows
    assert "generator/g_bn1/moving_mean/ema" in shadows
    with TrainedGenerator(run) as averaged, TrainedGenerator(run, ema=False) as raw:
        assert averaged.ema and not raw.ema
        z = averaged.sample_z(6, rng_seed=2)
        ema_images, raw_images = averaged.generate(z), raw.generate(z)
        assert np.abs(ema_images - raw_images).max() > 1e-3
        # The raw network given the shadow values draws exactly the EMA sampler's images.
        with raw.graph.as_default():
            for variable in model.scoped_variables("generator"):
                variable.load(reader.get_tensor(variable.op.name + "/ema"), raw.session)
        np.testing.assert_allclose(raw.generate(z), ema_images, atol=1e-5)
