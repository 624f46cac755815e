"""The Python API: a trained run's generator, loaded by folder, name or dataset.

    from dcgan import Generator, to_pil

    with Generator(dataset="anime") as generator:          # the newest anime run
        faces = generator.images(seeds=range(16))         # uint8 [16, h, w, 3]
        walk = generator.interpolate([3, 17], steps=8)    # uint8 [8, h, w, 3]
        to_pil(faces[0]).save("seed0.png")                # with Pillow installed

    with Generator(dataset="anime", truncation=0.7) as typical:  # fewer odd faces, less variety
        safer = typical.images(seeds=range(16))

`import dcgan` stays light: TensorFlow loads when a Generator is made. `--visualize` draws every
picture through this class, so the image of seed s is the same here as in its files. Mistakes
(an unknown run, a run without checkpoints, a seed or label out of range) raise
`dcgan.UsageError` with a message that says what to do.
"""

import os

import numpy as np

from dcgan import grids, latent, run_list, runs, walks, words
from dcgan.errors import UsageError, require
from dcgan.portable_random import SEED_LIMIT
from dcgan.precision import PRECISIONS
from dcgan.settings import RUN_FILE, RunSettings, load

DEFAULT_CHECKPOINT_DIR = RunSettings.checkpoint_dir
CHUNK = 256  # latent vectors per session call: any count is drawn, this many at a time
# project()'s search (and --mode project's --restarts and --project_steps): starting points
# optimised together, and Adam steps (the loss of a 64 px run flattens out well before 300).
PROJECTION_RESTARTS = 8
PROJECTION_STEPS = 300


def find_run(run=None, dataset=None, checkpoint_dir=DEFAULT_CHECKPOINT_DIR):
    """The RunSettings of a saved run, without TensorFlow.

    `run` is a run's folder (the one holding run.json), a run's name under `checkpoint_dir`, or
    RunSettings (returned as they are); None picks the newest run under `checkpoint_dir`, of
    `dataset` when given. Raises UsageError naming what was searched.
    """
    if isinstance(run, RunSettings):
        return run
    if run is None:
        return runs.newest_run(checkpoint_dir, dataset)
    run = os.fspath(run)
    folder = next((path for path in (run, os.path.join(checkpoint_dir, run))
                   if os.path.isfile(os.path.join(path, RUN_FILE))), None)
    if folder is None:
        raise UsageError(f"no run {run!r}: it is neither a run's folder (one holding {RUN_FILE}) "
                         f"nor a run in {words.folder(checkpoint_dir)}; "
                         f"{_run_names(checkpoint_dir)}")
    saved = load(folder)
    require(dataset is None or saved.dataset == dataset,
            f"{folder} is a run of {saved.dataset}, not {dataset}: drop dataset= or pick "
            "another run")
    return saved.replace(checkpoint_dir=os.path.dirname(os.path.normpath(folder)))


def _run_names(checkpoint_dir):
    """'its runs: a, b' for the runs under `checkpoint_dir`, or 'it holds no run'."""
    names = run_list.run_names(checkpoint_dir)
    return f"its runs: {', '.join(names)}" if names else "it holds no run"


def to_pil(images):
    """PIL images of uint8 pictures: a list for [n, h, w, c], one image for [h, w, c].

    Needs Pillow (UsageError saying so without it). One channel gives greyscale ("L") images.
    """
    try:
        from PIL import Image
    except ImportError:
        raise UsageError("to_pil needs Pillow: `pip install Pillow`") from None
    images = np.asarray(images, np.uint8)
    if images.ndim == 3:
        return Image.fromarray(images[:, :, 0] if images.shape[2] == 1 else images)
    require(images.ndim == 4, f"to_pil takes [n, h, w, c] or [h, w, c] pictures, not "
                              f"shape {images.shape}")
    return [to_pil(picture) for picture in images]


def check_truncation(psi, name="truncation"):
    """UsageError unless `psi` is a number in (0, 1] (the truncation trick's psi)."""
    require(isinstance(psi, (int, float, np.integer, np.floating)) and not isinstance(psi, bool)
            and 0.0 < psi <= 1.0,
            f"{name} must be a number in (0, 1] (1: off; 0.7 is a usual choice), not {psi!r}")


class Generator:
    """A trained run's generator: pictures by seed, latent vector or label, as uint8 arrays.

    `run`: a run folder, a run name under `checkpoint_dir`, or RunSettings; None: the newest
    run (of `dataset` when given). `checkpoint`: a step (int) or a checkpoint path; None: the
    newest. `ema`: None uses the averaged weights when the run kept them (`--ema`), True
    insists on them, False takes the trained weights. `precision`: "auto" (the default: fp32
    for sampling, so pictures match the exported model's), "fp32" or "bf16" (RunSettings given
    as `run` keep their own unless `precision` is given).
    `discriminator=True` also loads D, for `images_and_scores`.
    `truncation`: psi in (0, 1], the truncation trick: every latent vector drawn (seeds, `z`,
    interpolations) is pulled towards the mean of the run's --z_dist, mean + psi * (z - mean),
    so pictures look more typical and vary less; 1 (the default) draws z as it is.
    `latents()` still returns the vectors before truncation.

    Use it as a context manager, or call close(): it holds a TensorFlow session.
    Attributes: `settings` (the run's RunSettings), `step` (the checkpoint's training step),
    `ema` (whether the averaged weights are drawn), `shape` ((height, width, channels)),
    `z_dim`, `labels` (digits a conditional run draws, 0 for none), `truncation`.
    """

    def __init__(self, run=None, *, dataset=None, checkpoint=None,
                 checkpoint_dir=DEFAULT_CHECKPOINT_DIR, ema=None, precision=None,
                 discriminator=False, truncation=1.0):
        check_truncation(truncation)
        settings = find_run(run, dataset, checkpoint_dir)
        require(precision in (None, *PRECISIONS),
                f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if precision is None and not isinstance(run, RunSettings):
            precision = "auto"  # run.json holds what the trainer computed in, not a choice
        if precision is not None:
            settings = settings.replace(precision=precision)
        # TensorFlow loads here, not on `import dcgan`; as on the command line, its C++ INFO
        # lines stay quiet unless TF_CPP_MIN_LOG_LEVEL asks for them.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from dcgan import runtime

        runtime.start()
        from dcgan import checkpoints
        from dcgan.session import TrainedGenerator

        path = checkpoints.pick(settings.run_checkpoint_dir,
                                None if checkpoint is None else str(checkpoint))
        self._trained = TrainedGenerator(settings, with_discriminator=discriminator, ema=ema,
                                         checkpoint=path)
        self._open = True
        self._projectors = {}  # restarts -> dcgan.projection.Projector, built when first asked
        self.settings = self._trained.settings
        self.step = self._trained.step
        self.ema = self._trained.ema
        cfg = self.settings.model
        self.shape = (cfg.output_height, cfg.output_width, cfg.c_dim)
        self.z_dim = cfg.z_dim
        self.labels = cfg.y_dim
        self.truncation = float(truncation)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"Generator({self.settings.run_checkpoint_dir!r}, step={self.step}, "
                f"ema={self.ema})")

    def close(self):
        """Release the TensorFlow session (again: nothing happens)."""
        if self._open:
            self._open = False
            self._trained.close()

    def latents(self, seeds):
        """The latent vectors of `seeds`, float32 [len(seeds), z_dim]: `latent.seed_z`, the
        same vectors as `--visualize` and the web page use."""
        seeds = self._seeds(seeds)
        if not len(seeds):
            return np.zeros((0, self.z_dim), np.float32)
        return latent.seeds_z(seeds, self.z_dim, self.settings.model.z_dist)

    def images(self, seeds=None, *, z=None, label=None, labels=None):
        """uint8 pictures [n, height, width, channels] of `seeds` or of latent vectors `z`.

        Give one of `seeds` (any iterable of ints, 0 <= seed < 2**32) and `z` ([n, z_dim], or
        the text handle of a vector, or a list of handles: `dcgan.latent.to_handle`).
        Conditional (MNIST) runs draw digit `label` for every picture, or `labels[i]` for
        picture i; by default the picture of seed s is digit s % 10 (for `z`, row i is i % 10).
        Any n works: the session draws 256 at a time.
        """
        return self._draw(*self._request(seeds, z, label, labels))[0]

    def image(self, seed, *, label=None):
        """The uint8 picture [height, width, channels] of one seed."""
        return self.images([seed], label=label)[0]

    def interpolate(self, seeds, steps=16, kind="slerp", *, label=None):
        """uint8 pictures walking from seed to seed through the latent space: `steps` per leg,
        the ends included and shared, so k seeds give (k - 1) * (steps - 1) + 1 pictures.

        `kind` is "slerp" (along the sphere typical vectors lie on) or "lerp" (straight).
        A conditional run draws `label`, by default the first seed's digit, all the way.
        """
        seeds = self._seeds(seeds)
        require(len(seeds) >= 2, f"interpolate needs two seeds or more, not {len(seeds)}")
        require(kind in walks.INTERPOLATIONS,
                f"kind must be one of {', '.join(walks.INTERPOLATIONS)}, not {kind!r}")
        require(isinstance(steps, (int, np.integer)) and steps >= 2,
                f"steps must be a whole number of 2 or more, not {steps!r}")
        path = walks.path(self.latents(seeds), int(steps), kind)
        if self.labels and label is None:
            label = int(self.settings.model.labels_for(seeds[:1])[0])
        return self.images(z=path, label=label)

    def images_and_scores(self, seeds=None, *, z=None, label=None, labels=None):
        """(uint8 pictures, D's logit for each): as `images`, plus how real D finds each
        picture (higher is more real). Needs `Generator(..., discriminator=True)`."""
        require(self._trained.d_score is not None,
                "images_and_scores needs the discriminator: make the Generator with "
                "discriminator=True")
        z, labels = self._request(seeds, z, label, labels)
        return self._draw(z, labels, scored=True)

    def project(self, image, *, restarts=PROJECTION_RESTARTS, steps=PROJECTION_STEPS, seed=0,
                label=None):
        """The latent vector whose picture is closest to `image`: a `dcgan.projection.Projection`
        (`.z`, `.handle`, `.image`, `.distance` in 0-255 pixel units, `.frames` of the search).

        `image` is a picture file (centre-cropped and resized as the run's training data) or a
        uint8 array of this run's `shape`. The search starts from the vectors of seeds `seed`,
        `seed` + 1, ... (`restarts` of them) and takes `steps` Adam steps (`dcgan.projection`
        says on what loss). A conditional run projects onto digit `label` (required).
        """
        require(self._open, "this Generator is closed: make a new one")
        # A projection searches the vectors drawn as they are; truncation would pull its z again.
        require(self.truncation == 1, f"project needs truncation=1 (this Generator has "
                                      f"{self.truncation:g}): make one without truncation")
        require(isinstance(restarts, (int, np.integer)) and restarts >= 1,
                f"restarts must be a whole number of 1 or more, not {restarts!r}")
        require(isinstance(steps, (int, np.integer)) and steps >= 0,
                f"steps must be a whole number of 0 or more, not {steps!r}")
        target = self._target(image)
        self._labels(1, [0], label, None)  # unconditional: refuses a label; else checks it
        require(not self.labels or label is not None,
                "a conditional run projects onto one digit: give label=")
        from dcgan import projection

        projector = self._projectors.get(restarts)
        if projector is None:
            projector = self._projectors[restarts] = projection.Projector(self._trained,
                                                                          restarts)
        return projector.project(target, self.latents(range(seed, seed + restarts)), label,
                                 steps)

    def _target(self, image):
        """`image` (a path or a uint8 array) as this run's uint8 [h, w, c] picture."""
        if isinstance(image, (str, os.PathLike)):
            from dcgan import data

            return data.load_target(image, self.settings.spec)
        image = np.asarray(image)
        require(image.shape == self.shape and image.dtype == np.uint8,
                f"image must be a picture file or a uint8 array of shape {self.shape}, not "
                f"{image.dtype} {image.shape}")
        return image

    def _draw(self, z, labels, scored=False):
        """(uint8 pictures, D's logits or None) for checked `z` and `labels`."""
        require(self._open, "this Generator is closed: make a new one")
        if not len(z):
            return np.zeros((0, *self.shape), np.uint8), np.zeros(0, np.float32)
        z = latent.truncate(z, self.truncation, self.settings.model.z_dist)
        floats = self._trained.generate(z, labels, CHUNK)
        scores = self._trained.score(floats, labels, CHUNK) if scored else None
        return grids.to_uint8(floats), scores

    def _request(self, seeds, z, label, labels):
        """The checked (z, labels) of an `images` call."""
        require((seeds is None) != (z is None), "give seeds or z (one of them)")
        if z is None:
            seeds = self._seeds(seeds)
            z, default = self.latents(seeds), seeds
        else:
            z = self._latent_batch(z)
            default = np.arange(len(z))
        return z, self._labels(len(z), default, label, labels)

    def _seeds(self, seeds):
        """`seeds` as an int64 array, each checked to be a seed."""
        seeds = np.asarray(list(seeds) if not np.isscalar(seeds) else [seeds])
        require(seeds.dtype.kind in "iu" or not len(seeds),
                f"seeds are whole numbers, not {seeds.dtype} values")
        outside = seeds[(seeds < 0) | (seeds >= SEED_LIMIT)]
        require(not len(outside), f"seed {outside[:1].tolist()[0] if len(outside) else ''} is "
                                  f"outside 0..{SEED_LIMIT - 1}")
        return seeds.astype(np.int64)

    def _latent_batch(self, z):
        """`z` (vectors, or handles) as float32 [n, z_dim], checked for shape and finite
        values."""
        if isinstance(z, str):
            z = [z]
        if isinstance(z, (list, tuple)) and z and all(isinstance(one, str) for one in z):
            z = [latent.from_handle(handle, self.z_dim) for handle in z]
        z = np.asarray(z, np.float32)
        require(z.ndim == 2 and z.shape[1] == self.z_dim,
                f"z must be [n, {self.z_dim}] latent vectors for this run, not shape {z.shape}")
        require(np.isfinite(z).all(), "z holds NaN or infinite values")
        return z

    def _labels(self, count, default, label, labels):
        """The digit of each of `count` pictures (None for an unconditional run)."""
        if not self.labels:
            require(label is None and labels is None,
                    f"{self.settings.run_name} was trained without labels: drop label/labels")
            return None
        require(label is None or labels is None, "give label or labels, not both")
        if label is not None:
            labels = np.full(count, label)
        elif labels is None:
            return self.settings.model.labels_for(default)
        labels = np.asarray(labels)
        require(labels.shape == (count,), f"labels must hold one digit per picture ({count}), "
                                          f"not shape {labels.shape}")
        require(labels.dtype.kind in "iu" and ((labels >= 0) & (labels < self.labels)).all(),
                f"labels must be digits 0-{self.labels - 1}")
        return labels.astype(np.int64)
