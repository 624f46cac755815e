"""--precision: CPU bf16 detection, the one-line fall-back, the session rewrite, a bf16 run."""

import logging

import numpy as np
import pytest
from helpers import TINY_FLAGS, carpedm20, copy_photos, main_in_process, refusal

from dcgan import checkpoints, precision

AMD_ZEN4_FLAGS = "fpu vme sse2 avx2 avx512f avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS_FLAGS = "fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8"
SKYLAKE_FLAGS = "fpu sse2 avx2 avx512f avx512bw"


def _cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: {flags}\n")
    return str(path)


@pytest.mark.parametrize("flags, has_bf16", [(AMD_ZEN4_FLAGS, True),
                                             (SAPPHIRE_RAPIDS_FLAGS, True),
                                             (SKYLAKE_FLAGS, False)])
def test_bf16_units_are_found_in_the_cpu_flags(tmp_path, flags, has_bf16):
    assert precision.cpu_has_bf16(_cpuinfo(tmp_path, flags)) is has_bf16


def test_bf16_falls_back_to_fp32_in_one_line_without_bf16_units(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="dcgan")
    cpuinfo = _cpuinfo(tmp_path, SKYLAKE_FLAGS)
    assert precision.effective("bf16", cpuinfo=cpuinfo) == "fp32"
    assert len(caplog.records) == 1 and "running fp32" in caplog.records[0].getMessage()
    assert precision.effective("bf16", cpuinfo=_cpuinfo(tmp_path, AMD_ZEN4_FLAGS)) == "bf16"
    assert precision.effective("bf16", gpu=True, cpuinfo=cpuinfo) == "fp32"
    assert precision.effective("fp32", cpuinfo=cpuinfo) == "fp32"
    assert precision.cpu_flags(str(tmp_path / "missing")) == set()


@pytest.mark.parametrize("flags, expected, reason", [
    (AMD_ZEN4_FLAGS, "bf16", "this CPU has avx512_bf16"),
    (SAPPHIRE_RAPIDS_FLAGS, "bf16", "this CPU has amx_bf16"),
    (SKYLAKE_FLAGS, "fp32", "this CPU has no bfloat16 units")])
def test_auto_is_bf16_exactly_where_the_cpu_has_bfloat16_units(tmp_path, caplog, flags,
                                                                 expected, reason):
    from dcgan.network import ModelConfig
    from dcgan.runtime import resolve_precision
    from dcgan.settings import RunSettings

    caplog.set_level(logging.INFO, logger="dcgan")
    run = RunSettings.create(dataset="anime", model=ModelConfig(output_height=16, output_width=16))
    assert run.precision == "auto"  # the default
    resolved = resolve_precision(run, cpuinfo=_cpuinfo(tmp_path, flags))
    assert resolved.precision == expected
    [record] = caplog.records
    assert record.getMessage().startswith(f"precision auto: {expected} ({reason}")
    assert precision.effective("auto", gpu=True, cpuinfo=_cpuinfo(tmp_path, flags)) == "fp32"
    caplog.clear()  # sampling (--visualize, --evaluate) is fp32 under auto on every CPU
    assert resolve_precision(run, cpuinfo=_cpuinfo(tmp_path, flags),
                             sampling=True).precision == "fp32"
    assert caplog.records[0].getMessage().startswith("precision auto: fp32 (sampling")
    assert resolve_precision(run.replace(precision="bf16"), cpuinfo=_cpuinfo(tmp_path, flags),
                             sampling=True).precision == expected  # asked for: kept


def test_the_first_lines_of_a_run_say_which_run_and_its_precision_and_fp32_stays_fp32(tmp_path):
    from dcgan import settings

    copy_photos(tmp_path / "data" / "anime", 16)
    auto = main_in_process(["--dataset", "anime", "--train", "--epoch", "1", *TINY_FLAGS],
                           tmp_path)
    assert auto.returncode == 0, auto.stderr
    logged = [line for line in auto.stderr.splitlines() if line.startswith(("INFO", "WARNING"))]
    expected = "bf16" if precision.cpu_has_bf16() else "fp32"
    assert logged[0].startswith("INFO: starting run anime_8_16_16 "), logged
    assert logged[1].startswith(f"INFO: precision auto: {expected} ("), logged
    folder = tmp_path / "checkpoints" / "anime_8_16_16"
    assert settings.load(folder).precision == expected  # run.json: what it computed in
    fp32 = main_in_process(["--dataset", "anime", "--train", "--epoch", "2", "--precision",
                            "fp32", *TINY_FLAGS], tmp_path)
    assert fp32.returncode == 0 and "precision auto" not in fp32.stderr, fp32.stderr
    assert settings.load(folder).precision == "fp32"
    for wanted in ("bf16", "fp32"):  # either precision samples the same checkpoint
        shown = main_in_process(["--dataset", "anime", "--visualize", "--precision", wanted,
                                 "--seed", "1", "--num_samples", "4"], tmp_path)
        assert shown.returncode == 0 and shown.stdout.strip().endswith(".png"), shown.stderr


def test_session_config_turns_on_the_onednn_bf16_rewrite_only_for_bf16():
    from tensorflow.core.protobuf import rewriter_config_pb2

    from dcgan.network import ModelConfig
    from dcgan.runtime import resolve_precision, session_config
    from dcgan.settings import RunSettings

    run = RunSettings.create(dataset="anime", model=ModelConfig(output_height=16, output_width=16))
    on = rewriter_config_pb2.RewriterConfig.ON
    fp32 = session_config(run.replace(precision="fp32", intra_op_threads=2))
    assert fp32.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 != on
    assert fp32.intra_op_parallelism_threads == 2
    bf16 = session_config(resolve_precision(run.replace(precision="bf16")))
    expected = on if precision.cpu_has_bf16() else fp32.graph_options.rewrite_options \
        .auto_mixed_precision_onednn_bfloat16
    assert bf16.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 == expected


@pytest.mark.parametrize("mode", ["--train", "--visualize"])
def test_a_bad_precision_is_refused_in_one_line(tmp_path, monkeypatch, mode):
    # In this process (helpers.refusal: nothing else shown); main.py's exit status 2 and
    # `error: ` prefix are tests/test_cli.py's MAIN_PY_ROWS.
    monkeypatch.chdir(tmp_path)
    assert refusal(["--dataset", "anime", mode, "--precision", "fp16"]) == \
        "--precision must be one of auto, fp32, bf16, not 'fp16'"


def test_bf16_training_keeps_fp32_weights_and_finite_losses(tmp_path):
    import tensorflow as tf

    copy_photos(tmp_path / "data" / "anime", 16)
    result = main_in_process(["--dataset", "anime", "--train", "--epoch", "1", "--precision",
                              "bf16", *TINY_FLAGS], tmp_path)
    assert result.returncode == 0, result.stderr
    if not precision.cpu_has_bf16():
        assert "running fp32" in result.stderr
    path = checkpoints.latest(str(tmp_path / "checkpoints" / "anime_8_16_16"))
    assert checkpoints.step_of(path) == 2
    reader = tf.train.load_checkpoint(path)
    dtypes = reader.get_variable_to_dtype_map()
    assert dtypes and set(dtypes.values()) == {tf.float32} | ({tf.int64} & set(dtypes.values()))
    weights = reader.get_tensor("generator/g_h4/w")
    assert np.isfinite(weights).all()


def _rewritten_nodes(fetches, feed, graph, run):
    """{node name: (op, dtype)} of the graph as the session really ran it for `run`'s
    precision (after Grappler's rewrites), op-types of our own nodes only."""
    import tensorflow as tf

    from dcgan.runtime import session_config

    tf1 = tf.compat.v1
    with tf1.Session(graph=graph, config=session_config(run)) as session:
        session.run(tf1.global_variables_initializer())
        metadata = tf1.RunMetadata()
        session.run(fetches, feed, options=tf1.RunOptions(output_partition_graphs=True),
                    run_metadata=metadata)
    return {node.name: (node.op, tf.dtypes.as_dtype(node.attr["T"].type).name)
            for partition in metadata.partition_graphs for node in partition.node
            if "T" in node.attr and node.attr["T"].type}


def _bf16_or_skip(nodes):
    if not any(dtype == "bfloat16" for _, dtype in nodes.values()):
        pytest.skip("TensorFlow's oneDNN bf16 rewrite does not run on this CPU (oneDNN is off "
                    "without AVX512-BF16/AMX): nothing to check")


def _net_nodes(nodes, *names):
    return {name: value for name, value in nodes.items() if any(n in name for n in names)}


def test_a_bf16_graph_computes_images_scores_and_losses_in_fp32():
    """What leaves a bf16 graph is fp32: the sampler's bias and tanh, D's score unit, the
    losses; the convolutions themselves run bf16. Read from the graph the session ran."""
    import tensorflow as tf

    from dcgan import model, ops
    from dcgan.network import ModelConfig
    from dcgan.settings import RunSettings

    tf1 = tf.compat.v1
    cfg = ModelConfig(output_height=16, output_width=16, z_dim=16, gf_dim=8, df_dim=8)
    # As resolved on bf16 CPUs.
    run = RunSettings.create(dataset="anime", model=cfg, precision="bf16")
    graph = tf.Graph()
    with graph.as_default(), ops.built_for("bf16"):
        real = tf1.placeholder(tf.float32, [4, 16, 16, 3])
        gan = model.DCGAN(cfg, real, choices=carpedm20())
        score = model.discriminator(gan.sampler.images, None, cfg, train=False)
    feed = {real: np.zeros([4, 16, 16, 3], np.float32),
            gan.sampler.z: np.full([4, 16], 0.5, np.float32)}
    nodes = _rewritten_nodes([gan.d_optim, gan.d_loss, gan.sampler.images, score], feed, graph,
                             run)
    _bf16_or_skip(nodes)
    assert nodes["generator_1/g_h1/conv2d_transpose"][1] == "bfloat16"  # the bulk: bf16
    edges = _net_nodes(nodes, "g_h4/BiasAdd", "generator_1/Tanh", "sampler", "d_h4_lin/",
                       "logistic_loss", "Mean")
    edges = {name: value for name, value in edges.items()
             if "gradients" not in name and value[0] != "Cast"}
    assert len(edges) > 10 and {dtype for _, dtype in edges.values()} == {"float32"}, edges


def test_an_fp32_graph_has_no_barriers():
    """The barrier exists only in graphs built for bf16: fp32 graphs (and exports) stay clean."""
    import tensorflow as tf

    from dcgan import model, ops
    from dcgan.network import ModelConfig

    cfg = ModelConfig(output_height=16, output_width=16, z_dim=16, gf_dim=8, df_dim=8)
    for built, casts in (("fp32", 0), ("bf16", 4)):
        with tf.Graph().as_default() as graph, ops.built_for(built):
            sampler = model.Sampler(cfg)
            model.discriminator(sampler.images, None, cfg, train=False)
        assert sum(op.type == "Cast" for op in graph.get_operations()) == casts
