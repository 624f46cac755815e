"""--recipe: named training choices under explicit flags, recorded in run.json; the new knobs
(TTUR rates, one-sided label smoothing, EMA start) doing what they say in the graph."""

import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import carpedm20, flag_values, run_main
from test_cli import assert_one_line_exit_2
from test_model import CFG, real_batch

from dcgan import cli, model, recipes, runs, settings
from dcgan.errors import UsageError

tf1 = tf.compat.v1
# carpedm20/DCGAN-tensorflow's training, written out (not read from the recipe table).
CARPEDM20 = {"learning_rate": 2e-4, "d_learning_rate": 2e-4, "g_learning_rate": 2e-4,
             "beta1": 0.5, "beta2": 0.999, "g_steps": 2, "ema": 0.0, "ema_start": 0,
             "label_smoothing": 1.0, "augment": "", "r1_gamma": 0.0, "r1_every": 16,
             "lr_half_life": 0}


def _settings(*args):
    """RunSettings of `main.py --train --dataset anime ARGS`, through the real flag parser."""
    return cli.training_settings(["--dataset", "anime", *args])


def _knobs(run):
    return {knob: getattr(run, knob) for knob in recipes.KNOBS}


def test_the_default_recipe_is_fast_for_pictures_and_carpedm20s_for_digits():
    run = _settings()
    assert run.recipe == "fast" and _knobs(run) == recipes.RECIPES["fast"]
    assert run.model.g_kernel == 4
    digits = cli.training_settings(["--dataset", "mnist"])
    assert digits.recipe == "carpedm20" and _knobs(digits) == CARPEDM20
    assert digits.model.g_kernel == 5
    assert _knobs(_settings("--recipe", "carpedm20")) == CARPEDM20


def test_a_resumed_run_keeps_its_recipe_and_kernel_without_recipe(tmp_path):
    """A run trained the carpedm20 way (as every picture run was before `fast` became the
    default) goes on the carpedm20 way when resumed without --recipe."""
    old = _settings("--recipe", "carpedm20", "--checkpoint_dir", str(tmp_path))
    settings.save(old)
    resumed, saved = runs.training_run(*flag_values(
        train=True, dataset="anime", checkpoint_dir=str(tmp_path), name=old.run_name))
    assert saved is not None and resumed.recipe == "carpedm20"
    assert _knobs(resumed) == CARPEDM20 and resumed.model.g_kernel == 5


def test_a_run_saved_before_the_rates_could_decay_keeps_constant_rates(tmp_path, monkeypatch):
    """A run.json without `lr_half_life` (written before the knob) trained with constant
    rates, whatever its recipe's value is now (here: a recipe that decays)."""
    monkeypatch.setitem(recipes.RECIPES["fast"], "lr_half_life", 1500)
    run = _settings("--checkpoint_dir", str(tmp_path))
    assert run.lr_half_life == 1500
    settings.save(run)
    path = tmp_path / run.run_name / settings.RUN_FILE
    saved = json.loads(path.read_text())
    del saved["lr_half_life"]
    path.write_text(json.dumps({**saved, "recipe": "fast"}))
    assert settings.load(str(tmp_path / run.run_name)).lr_half_life == 0


def test_flags_given_override_the_recipe():
    fast = recipes.RECIPES["fast"]
    run = _settings("--recipe", "fast", "--g_steps", "2", "--augment", "none")
    assert _knobs(run) == {**fast, "g_steps": 2, "augment": ""}
    both = _settings("--recipe", "fast", "--learning_rate", "1e-4")
    assert (both.d_learning_rate, both.g_learning_rate) == (1e-4, 1e-4)
    one = _settings("--recipe", "fast", "--d_learning_rate", "3e-4")
    assert (one.d_learning_rate, one.g_learning_rate) == (3e-4, fast["g_learning_rate"])
    mixed = _settings("--learning_rate", "1e-4", "--g_learning_rate", "5e-4")
    assert (mixed.d_learning_rate, mixed.g_learning_rate) == (1e-4, 5e-4)
    assert _settings("--augment", "translation, cutout").augment == "translation,cutout"


@pytest.mark.parametrize("args, words", [
    (["--recipe", "slow"], "--recipe must be one of carpedm20, fast"),
    (["--recipe", ""], "--recipe must be one of carpedm20, fast"),
    (["--augment", "flip"], "unknown policy 'flip'"),
    (["--label_smoothing", "1.5"], "--label_smoothing"),
    (["--label_smoothing", "0"], "--label_smoothing"),
    (["--recipe", "carpedm20", "--ema_start", "100"], "--ema_start needs an EMA"),
    (["--ema", "0.99", "--ema_start", "-1"], "--ema_start must be 0 or more"),
    (["--lr_half_life", "-1"], "--lr_half_life must be 0 .constant rates. or more steps"),
    (["--beta2", "1"], "--beta2 must be in .0, 1. such as 0.999, not 1.0"),
    (["--beta2", "0"], "--beta2 must be in .0, 1. such as 0.999, not 0.0"),
    (["--d_learning_rate", "0"], "--d_learning_rate must be a positive number"),
    (["--recipe", "fast", "--g_learning_rate", "-1"], "--g_learning_rate must be a positive"),
    (["--r1_gamma", "-1"], "--r1_gamma must be 0 .off. or a positive weight"),
    (["--r1_gamma", "inf"], "--r1_gamma must be 0 .off. or a positive weight"),
    (["--r1_every", "4"], "--r1_every needs an R1 penalty"),
    (["--r1_gamma", "1", "--r1_every", "0"], "--r1_every must be a positive number"),
    (["--g_kernel", "3"], "--g_kernel must be one of 4, 5, not 3"),
])
def test_bad_recipe_flags_are_refused(args, words):
    with pytest.raises(UsageError, match=words):
        _settings(*args)


@pytest.mark.parametrize("flag, value", [("recipe", "slow"), ("r1_gamma", "-1"),
                                         ("g_kernel", "3")])
def test_a_bad_recipe_or_lever_is_one_line_and_status_2(flag, value, tmp_path):
    result = run_main(["--train", f"--{flag}", value], tmp_path)
    assert_one_line_exit_2(result, f"--{flag}")
    assert not list(tmp_path.iterdir())  # nothing written


def test_r1_flags_and_g_kernel_are_recorded_and_resolved():
    run = _settings("--recipe", "fast", "--r1_gamma", "0.5", "--r1_every", "4", "--g_kernel", "4")
    assert (run.r1_gamma, run.r1_every, run.model.g_kernel) == (0.5, 4, 4)
    assert run.to_dict()["model"]["g_kernel"] == 4 and run.choices["r1_gamma"] == 0.5
    assert _settings("--recipe", "carpedm20").model.g_kernel == 5  # carpedm20's 5x5


def test_a_new_run_gets_its_recipes_kernel_unless_g_kernel_is_given():
    assert recipes.G_KERNEL == {"carpedm20": 5, "fast": 4}  # every recipe picks one
    assert _settings("--recipe", "carpedm20").model.g_kernel == 5
    assert _settings("--recipe", "fast").model.g_kernel == 4
    assert _settings("--recipe", "fast", "--g_kernel", "5").model.g_kernel == 5
    assert _settings("--recipe", "carpedm20", "--g_kernel", "4").model.g_kernel == 4


def test_run_json_records_the_recipe_and_its_values(tmp_path):
    run = _settings("--recipe", "fast", "--ema_start", "50",
                    "--checkpoint_dir", str(tmp_path))
    settings.save(run)
    saved = json.loads((tmp_path / run.run_name / settings.RUN_FILE).read_text())
    assert saved["recipe"] == "fast"
    assert {knob: saved[knob] for knob in recipes.KNOBS} == \
        {**recipes.RECIPES["fast"], "ema_start": 50}
    assert settings.load(tmp_path / run.run_name) == run.replace(name=run.run_name)
    # A run.json written before recipes existed was trained the carpedm20 way.
    for knob in ("recipe", "d_learning_rate", "g_learning_rate", "ema_start", "label_smoothing",
                 "augment", "lr_half_life", "beta2"):
        del saved[knob]
    saved.update(learning_rate=2e-4, beta1=0.5, g_steps=2, ema=0.0)
    old = settings.RunSettings.from_dict(saved)
    assert old.recipe == "carpedm20" and _knobs(old) == CARPEDM20


def _xent(probabilities, target):
    """numpy sigmoid cross-entropy of D's probabilities against a constant target."""
    return np.mean(-target * np.log(probabilities) - (1 - target) * np.log(1 - probabilities))


def test_label_smoothing_sets_the_real_target_of_d_only():
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        gan = model.DCGAN(CFG, tf.constant(real_batch(16)),
                          choices=carpedm20(label_smoothing=0.9))
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            for _ in range(3):  # move D off its 0.5 start so the target matters
                session.run(gan.d_optim)
            got = session.run({"real": gan.d_real, "fake": gan.d_fake, "d_real": gan.d_loss_real,
                               "d_fake": gan.d_loss_fake, "g": gan.g_loss})
    np.testing.assert_allclose(got["d_real"], _xent(got["real"], 0.9), rtol=1e-4)
    assert abs(got["d_real"] - _xent(got["real"], 1.0)) > 1e-3  # it is not the unsmoothed loss
    np.testing.assert_allclose(got["d_fake"], _xent(got["fake"], 0.0), rtol=1e-4)
    np.testing.assert_allclose(got["g"], _xent(got["fake"], 1.0), rtol=1e-4)  # G's stays 1


def _largest_change(session, variables, op):
    before = session.run(variables)
    session.run(op)
    return max(np.abs(a - b).max() for a, b in zip(session.run(variables), before, strict=True))


def test_each_optimizer_takes_its_own_learning_rate():
    # Adam's first step moves every weight with a clear gradient by its learning rate.
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        gan = model.DCGAN(CFG, tf.constant(real_batch(8)),
                          choices=carpedm20(d_learning_rate=1e-3, g_learning_rate=1e-5))
        trainable = tf1.GraphKeys.TRAINABLE_VARIABLES
        d_vars = model.scoped_variables(model.DISCRIMINATOR_SCOPE, trainable)
        g_vars = model.scoped_variables(model.GENERATOR_SCOPE, trainable)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            d_step = _largest_change(session, d_vars, gan.d_optim)
            g_step = _largest_change(session, g_vars, gan.g_optim)
    np.testing.assert_allclose([d_step, g_step], [1e-3, 1e-5], rtol=0.02)


def test_both_optimizers_take_the_runs_beta2():
    """`--beta2` reaches both nets' Adam: its running power is beta2 ** steps taken."""
    run = _settings("--beta1", "0", "--beta2", "0.9")
    with tf.Graph().as_default():
        gan = model.DCGAN(CFG, tf.constant(real_batch(8)), choices=run.choices)
        powers = [v for v in tf1.global_variables() if "beta2_power" in v.name]
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            session.run([gan.d_optim, gan.g_optim])
            np.testing.assert_allclose(session.run(powers), [0.9 ** 2] * 2, rtol=1e-6)


def test_the_rates_hold_for_a_half_life_then_halve_every_half_life():
    half_life = 4
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        gan = model.DCGAN(CFG, tf.constant(real_batch(8)),
                          choices=carpedm20(d_learning_rate=1e-3, g_learning_rate=1e-4,
                                            lr_half_life=half_life))
        trainable = tf1.GraphKeys.TRAINABLE_VARIABLES
        d_vars = model.scoped_variables(model.DISCRIMINATOR_SCOPE, trainable)
        g_vars = model.scoped_variables(model.GENERATOR_SCOPE, trainable)
        with tf1.Session() as session:
            steps = []
            # Adam's first step moves every weight with a clear gradient by its rate, so a
            # fresh start at each global step shows the rate there.
            for step in (0, half_life, 2 * half_life, 3 * half_life + half_life // 2):
                session.run(tf1.global_variables_initializer())
                gan.global_step.load(step, session)
                g_step = _largest_change(session, g_vars, gan.g_optim)
                steps.append((_largest_change(session, d_vars, gan.d_optim), g_step))
    factors = [1.0, 1.0, 0.5, 0.5 ** 2.5]
    np.testing.assert_allclose(steps, [(1e-3 * f, 1e-4 * f) for f in factors], rtol=0.02)


def test_constant_rates_build_the_graph_they_always_did():
    with tf.Graph().as_default() as graph:
        model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20())
        nodes = {node.op for node in graph.as_graph_def().node}
    assert "Pow" not in nodes


def test_the_ema_copies_the_generator_until_its_start_step():
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        gan = model.DCGAN(CFG, tf.constant(real_batch(8)),
                          choices=carpedm20(ema=0.9, ema_start=2))
        weight, shadow = next((v, s) for v, s in model.ema_pairs() if v.op.name.endswith("g_h4/w"))
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            gaps = []
            for _ in range(4):
                session.run(gan.d_optim)  # global step +1
                session.run(gan.g_optim)  # then the EMA update reads it
                gaps.append(np.abs(session.run(weight) - session.run(shadow)).max())
    assert gaps[0] == 0 and gaps[1] > 0 and gaps[3] > 0, gaps


def _r1_graph(choices, batch):
    """A DCGAN on `batch` with `choices`, and beside it D on a placeholder of the images it saw
    (variables shared): (gan, placeholder, gradient of the sum of D's logits there)."""
    gan = model.DCGAN(CFG, tf.constant(batch), choices=choices)
    seen = tf1.placeholder(tf.float32, batch.shape)
    logits = model.discriminator(seen, None, CFG, train=True)
    return gan, seen, tf.gradients(tf.reduce_sum(logits), seen)[0]


def test_r1_off_builds_the_plain_graph_and_no_r1_update():
    graphs = {}
    for every in (16, 4):  # r1_every means nothing without a penalty
        with tf.Graph().as_default() as graph:
            gan = model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20(r1_every=every))
            assert gan.d_optim_r1 is None and gan.d_loss_r1 is None
            graphs[every] = [(node.name, node.op, sorted(node.input))
                             for node in graph.as_graph_def().node]
    assert graphs[16] == graphs[4]
    # One gradient per network, none of a gradient: the penalty's ops are not there.
    assert {name.split("/")[0] for name, _, _ in graphs[16] if "gradients" in name} == \
        {"gradients", "gradients_1"}


def test_an_r1_step_adds_gamma_over_2_times_every_times_the_mean_squared_gradient():
    gamma, every = 2.0, 4
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        gan, seen, gradient = _r1_graph(
            carpedm20(r1_gamma=gamma, r1_every=every, augment="color,translation"),
            real_batch(8))
        plain_variables = len(tf1.global_variables())
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            for _ in range(3):  # move D off its start, through both of its updates
                session.run([gan.d_optim, gan.d_optim_r1])
            # One run: the augmented images D saw and both losses come from the same draw.
            got = session.run({"plain": gan.d_loss, "r1": gan.d_loss_r1, "seen": gan.seen_real})
            grad = session.run(gradient, {seen: got["seen"]})
    squared_norms = np.square(grad.astype(np.float64)).sum(axis=(1, 2, 3))
    penalty = gamma / 2 * every * squared_norms.mean()
    assert penalty > 0.01 * got["plain"]  # a penalty the comparison can see
    np.testing.assert_allclose(got["r1"], got["plain"] + penalty, rtol=1e-5)
    # The R1 update shares D's Adam state: the placeholder's D added no variables, and the
    # R1 update none either (checkpoints are the same with R1 on or off).
    assert plain_variables == _variables_without_r1()


def _variables_without_r1():
    with tf.Graph().as_default():
        model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20(augment="color,translation"))
        return len(tf1.global_variables())
