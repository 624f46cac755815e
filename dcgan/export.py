"""Export a trained generator for use outside this toolkit (`python main.py --export`).

Writes, into `<export_dir>/<run>/`:

- `generator.pb`: the sampler's frozen inference graph (variables folded into constants);
  input `z:0` [n, z_dim] (and `y:0` [n, 10], one-hot digits, for MNIST), output `sampler:0`
  [n, h, w, c], NHWC floats in [-1, 1].
- `saved_model/`: the same sampler as a TF SavedModel, signature `serving_default`.
- `generator.onnx`: the frozen graph converted by tf2onnx (opset 17). The sampler is built with
  batch norm in inference mode as plain ops, so the ONNX graph holds no control flow.
- `model.json`: what a consumer needs to feed it (sizes, z distribution, tensor names, the
  portable seed generator of `dcgan.portable_random`).

The graph comes from `session.TrainedGenerator`, so whatever weights it restores are exported.
It is always built and run in fp32 (the exported model computes in fp32 whatever --precision
says, so the graph carries none of the bf16 rewrite's barriers).
"""

import contextlib
import json
import logging
import os
import shutil
import warnings

import tensorflow as tf

from dcgan import checkpoints, durable
from dcgan.errors import TrainingError, UsageError
from dcgan.session import TrainedGenerator

tf1 = tf.compat.v1
log = logging.getLogger("dcgan")

OPSET = 17
FROZEN_GRAPH = "generator.pb"
SAVED_MODEL = "saved_model"
ONNX_MODEL = "generator.onnx"
MODEL_JSON = "model.json"
SEED_GENERATOR = "mulberry32 (dcgan/portable_random.py, dcgan/web/seeds.js)"


def run_export_dir(export_dir, settings):
    """Folder of one run's exported files: `<export_dir>/<run name>`."""
    return os.path.join(export_dir, settings.run_name)


def tensor_names(generator):
    """{'z': 'z:0', ['y': 'y:0',] 'images': 'sampler:0'} for a TrainedGenerator."""
    names = {"z": generator.sampler.z.name, "images": generator.sampler.images.name}
    if generator.sampler.y is not None:
        names["y"] = generator.sampler.y.name
    return names


def freeze(generator):
    """The sampler's GraphDef with its variables folded in as constants."""
    output = generator.sampler.images.op.name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in TF2, but the tool for a TF1 graph
        return tf1.graph_util.convert_variables_to_constants(
            generator.session, generator.graph.as_graph_def(), [output])


def write_frozen_graph(graph_def, folder):
    """Write `generator.pb`; returns its path."""
    path = os.path.join(folder, FROZEN_GRAPH)
    with open(path, "wb") as handle:
        handle.write(graph_def.SerializeToString())
    return path


def write_saved_model(generator, folder):
    """Write the sampler as a SavedModel (replacing an older export); returns its folder."""
    path = os.path.join(folder, SAVED_MODEL)
    if os.path.exists(path):
        shutil.rmtree(path)
    sampler = generator.sampler
    inputs = {"z": sampler.z}
    if sampler.y is not None:
        inputs["y"] = sampler.y
    signature = tf1.saved_model.predict_signature_def(inputs=inputs,
                                                      outputs={"images": sampler.images})
    with generator.graph.as_default():
        builder = tf1.saved_model.Builder(path)
        builder.add_meta_graph_and_variables(
            generator.session, [tf1.saved_model.tag_constants.SERVING],
            signature_def_map={"serving_default": signature}, strip_default_attrs=True)
        builder.save()
    return path


def write_onnx(graph_def, names, folder):
    """Convert the frozen graph with tf2onnx and write `generator.onnx`; returns its path."""
    try:
        from tf2onnx import convert
    except ImportError as error:
        raise UsageError("--export needs tf2onnx, onnx and onnxruntime, which the base install "
                         "brings: run `pip install -e .` again in the repository") from error
    path = os.path.join(folder, ONNX_MODEL)
    inputs = [names["z"]] + ([names["y"]] if "y" in names else [])
    # tf2onnx logs every conversion step at INFO; only its problems matter here.
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    convert.from_graph_def(graph_def, input_names=inputs, output_names=[names["images"]],
                           opset=OPSET, output_path=path)
    return path


def model_description(generator, names):
    """The contents of model.json: everything a consumer needs to feed the exported model."""
    cfg = generator.cfg
    description = {
        "dataset": generator.settings.dataset,
        "run": generator.settings.run_name,
        "step": generator.step,
        "z_dim": cfg.z_dim,
        "z_dist": cfg.z_dist,
        "output_height": cfg.output_height,
        "output_width": cfg.output_width,
        "channels": cfg.c_dim,
        "layout": "NHWC",
        "value_range": [-1.0, 1.0],
        "inputs": {"z": names["z"]},
        "output": names["images"],
        "seed_generator": SEED_GENERATOR,
        "labels": None,
    }
    if cfg.y_dim:
        description["inputs"]["y"] = names["y"]
        description["labels"] = {"input": names["y"], "classes": cfg.y_dim,
                                 "encoding": "one-hot float32 [n, classes]"}
    return description


def write_model_json(description, folder):
    """Write model.json (atomically: the page and --serve read it); returns its path."""
    path = os.path.join(folder, MODEL_JSON)
    return durable.write_atomically(path, (json.dumps(description, indent=2) + "\n").encode())


@contextlib.contextmanager
def _quiet_tensorflow():
    # The TF1 export APIs log a deprecation notice each; they are the right tools for a TF1 graph.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def export(settings, export_dir="export", checkpoint=None):
    """Write the frozen graph, SavedModel, ONNX model and model.json of the newest checkpoint
    (or the `checkpoint` path given); returns their paths."""
    folder = run_export_dir(export_dir, settings)
    os.makedirs(folder, exist_ok=True)
    fp32 = settings.replace(precision="fp32")
    with TrainedGenerator(fp32, checkpoint=checkpoint) as generator, _quiet_tensorflow():
        names = tensor_names(generator)
        graph_def = freeze(generator)
        try:
            paths = [write_frozen_graph(graph_def, folder),
                     write_saved_model(generator, folder),
                     write_onnx(graph_def, names, folder),
                     write_model_json(model_description(generator, names), folder)]
        except tf.errors.OpError as error:  # the SavedModel writer's disk errors are TF's own
            raise TrainingError(f"cannot write the export in {folder}: "
                                f"{checkpoints.reason_of(error)}") from None
    log.info("exported step %d of %s to %s/", generator.step, settings.run_name, folder)
    return paths
