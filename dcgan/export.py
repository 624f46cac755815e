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

With `web`, the folder also gets the browser page (`web/`, see `dcgan/web/page.py`).

The whole export is built in a new hidden folder beside the old one and swapped in only when
complete (`durable.fresh_folder`, `durable.swap_in`), every file created new and never through a
link: a failed re-export leaves the previous one as it was, and nothing is written outside
`<export_dir>/<run>/`.

The graph comes from `session.TrainedGenerator`, so whatever weights it restores are exported.
It is always built and run in fp32 (the exported model computes in fp32 whatever --precision
says, so the graph carries none of the bf16 rewrite's barriers).
"""

import contextlib
import json
import logging
import os
import warnings

import tensorflow as tf

from dcgan import checkpoints, durable
from dcgan.errors import TrainingError, UsageError, describe_os_error
from dcgan.session import TrainedGenerator
from dcgan.web import page as webpage

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
    """Write `generator.pb` (a new file); returns its path."""
    return durable.write_new(os.path.join(folder, FROZEN_GRAPH), graph_def.SerializeToString())


def write_saved_model(generator, folder):
    """Write the sampler as a SavedModel into the new folder `saved_model/`; returns it."""
    path = os.path.join(folder, SAVED_MODEL)
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
    """Convert the frozen graph with tf2onnx and write `generator.onnx` (a new file; tf2onnx
    only converts, so its writer never touches the disk); returns its path."""
    try:
        from tf2onnx import convert
    except ImportError as error:
        raise UsageError("--export needs tf2onnx, onnx and onnxruntime, which the base install "
                         "brings: run `pip install -e .` again in the repository") from error
    path = os.path.join(folder, ONNX_MODEL)
    inputs = [names["z"]] + ([names["y"]] if "y" in names else [])
    # tf2onnx logs every conversion step at INFO; only its problems matter here.
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    model, _ = convert.from_graph_def(graph_def, input_names=inputs,
                                      output_names=[names["images"]], opset=OPSET)
    return durable.write_new(path, model.SerializeToString())


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
    """Write model.json (a new file); returns its path."""
    path = os.path.join(folder, MODEL_JSON)
    return durable.write_new(path, (json.dumps(description, indent=2) + "\n").encode())


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


def write_export(generator, folder, runtime=None):
    """Write every file of the export into the new, empty `folder` (and the page when
    `runtime`, the onnxruntime-web folder, is given); returns their paths."""
    names = tensor_names(generator)
    graph_def = freeze(generator)
    paths = [write_frozen_graph(graph_def, folder),
             write_saved_model(generator, folder),
             write_onnx(graph_def, names, folder),
             write_model_json(model_description(generator, names), folder)]
    if runtime is not None:
        paths.append(webpage.build_page(folder, runtime))
    return paths


def _failure(error, fresh, target, replaced):
    """The TrainingError of an export that could not be written: the file (by the name it
    would have had in `target`), the cause, and what is left."""
    if isinstance(error, OSError):
        reason = describe_os_error(error)
    else:  # the SavedModel writer's disk errors are TensorFlow's own
        reason = checkpoints.reason_of(error)
    left = (f"the previous export in {target} is unchanged" if replaced
            else "no export was written")
    return TrainingError(f"cannot write the export: {reason.replace(fresh, target)}; {left}")


def export(settings, export_dir, checkpoint=None, web=False):
    """Write the frozen graph, SavedModel, ONNX model and model.json of the newest checkpoint
    (or the `checkpoint` path given), and with `web` the browser page, into
    `<export_dir>/<run>/`, replacing an earlier export there whole; returns their paths."""
    target = run_export_dir(export_dir, settings)
    runtime = webpage.runtime_folder() if web else None  # before the minutes of TensorFlow work
    fp32 = settings.replace(precision="fp32")
    with TrainedGenerator(fp32, checkpoint=checkpoint) as generator, _quiet_tensorflow():
        os.makedirs(export_dir, exist_ok=True)
        fresh = durable.fresh_folder(target)
        replaced = os.path.lexists(target)
        try:
            paths = write_export(generator, fresh, runtime)
            durable.swap_in(fresh, target)
        except (OSError, tf.errors.OpError) as error:
            raise _failure(error, fresh, target, replaced) from None
        finally:
            with contextlib.suppress(OSError):  # the error that got here is the one to tell
                durable.remove(fresh)  # gone already when swapped in
    log.info("exported step %d of %s to %s/", generator.step, settings.run_name, target)
    return [os.path.join(target, os.path.relpath(path, fresh)) for path in paths]
