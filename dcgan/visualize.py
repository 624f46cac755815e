"""Pictures from a trained generator (`python main.py --visualize --mode NAME`).

Every mode writes under `samples/<run>/`, with names that start with the mode and the
checkpoint's step, and returns the paths it wrote. The image of seed s is the generator's
output for `latent.seed_z(s)` (and, on MNIST, digit s % 10 unless --label is given), so any
image named with its seed can be made again with `--seed s`. Every picture is drawn through
`dcgan.generator.Generator`, the Python API, so a seed's picture is the same from Python.
With --truncation below 1 the names end in `_psi<value>`, beside the untruncated files. The
progress mode draws nothing: it animates the training grids the run already wrote.
"""

import collections
import io
import logging
import os
import re

import numpy as np

from dcgan import checkpoint_files, durable, grids, walks, words
from dcgan.errors import require
from dcgan.generator import Generator
from dcgan.pictures import load_rgb
from dcgan.progress import bar as progress_bar
from dcgan.visualize_options import MERGED_TILES, PROGRESS, VisualizeOptions

# A folder holding more files than this is printed as its name and a count, not file by file.
LISTED_FILES = 10
# The name training gives the grid of step S: train_<epoch>_<S>.png.
TRAINING_GRID = re.compile(r"train_\d+_(\d+)\.png")

log = logging.getLogger(__name__)


class Canvas:
    """A `Generator` and one request's options, with the helpers every mode shares."""

    def __init__(self, generator, options, folder):
        self.generator = generator
        self.options = options
        self.cfg = generator.settings.model
        self.folder = folder
        self.values = walks.sweep_values(self.cfg.z_dist, options.frames)

    def path(self, suffix="", file=None, ext=".png"):
        """`<mode>_<step><suffix>[_digit<label>]<ext>` in the run's sample folder, or `file`
        inside a folder of that name (without ext) for modes that write many files."""
        tag = "" if self.options.label is None else f"_digit{self.options.label}"
        if self.options.truncation != 1:
            tag += f"_psi{self.options.truncation:g}"
        head = f"{self.options.mode}_{self.generator.step:05d}{suffix}{tag}"
        if file is None:
            return os.path.join(self.folder, head + ext)
        return os.path.join(self.folder, head, file)

    def z_of(self, seeds):
        """Latent vectors of `seeds`."""
        return self.generator.latents(seeds)

    def labels_of(self, seeds):
        """Digits of `seeds` for a conditional model: --label, or seed % 10; else None."""
        if self.cfg.y_dim and self.options.label is not None:
            return np.full(len(seeds), self.options.label)
        return self.cfg.labels_for(seeds)

    def enlarge(self, pictures):
        """uint8 pictures enlarged by --scale."""
        return grids.enlarge(pictures, self.options.scale)

    def render(self, z, labels=None):
        """uint8 pictures (enlarged by --scale) for latent vectors `z` (and digits)."""
        return self.enlarge(self.generator.images(z=z, labels=labels))

    def grid(self, path, z, labels=None, rows=None):
        """Draw `z` and write the pictures as one grid; returns the path."""
        return grids.save_image(path, grids.make_grid(self.render(z, labels), rows))

    def panels(self, z):
        """uint8 images [len(z), k, h, w, c] for animations and strips.

        k is 1, except for a conditional model given no --label: then every vector is drawn as
        all ten digits side by side (carpedm20's options 2-4 fed no labels and broke on MNIST).
        """
        if self.cfg.y_dim and self.options.label is None:
            digits = self.cfg.y_dim
            drawn = self.render(np.repeat(z, digits, axis=0), np.tile(np.arange(digits), len(z)))
            return drawn.reshape(len(z), digits, *drawn.shape[1:])
        return self.render(z, self.labels_of(np.zeros(len(z), np.int64)))[:, np.newaxis]

    def gif(self, path, frames):
        """Write panels [n, k, ...] as a GIF of n frames, each the k panels in a row."""
        return grids.save_gif(path, [grids.make_grid(panel, rows=1) for panel in frames],
                               self.options.fps)

    def sweep_dims(self, limit=None):
        """The dimensions a sweep mode walks: --dims, or the first `limit` (default all)."""
        if self.options.dims is not None:
            return list(self.options.dims)
        return list(range(min(self.cfg.z_dim, limit or self.cfg.z_dim)))


def grid(canvas):
    """`--num_samples` images of seeds seed, seed+1, ... as one grid (carpedm20 option 0)."""
    o = canvas.options
    seeds = np.arange(o.seed, o.seed + o.num_samples)
    return [canvas.grid(canvas.path(f"_seed{o.seed}"), canvas.z_of(seeds), canvas.labels_of(seeds))]


def sweep(canvas):
    """Per dimension, a grid: rows are random bases, columns sweep it (carpedm20 option 1).

    Each grid holds --num_samples images: --frames columns and num_samples // frames rows.
    """
    o = canvas.options
    rows = max(1, o.num_samples // o.frames)
    seeds = np.arange(o.seed, o.seed + rows)
    bases = canvas.z_of(seeds)
    labels = canvas.labels_of(np.repeat(seeds, o.frames))
    paths = []
    for dim in canvas.sweep_dims():
        z = np.concatenate([walks.sweep(base, dim, canvas.values) for base in bases])
        paths.append(canvas.grid(canvas.path(f"_seed{o.seed}", f"dim{dim:03d}.png"), z, labels,
                                 rows))
    return paths


def sweep_gifs(canvas):
    """--num_gifs GIFs, each a random dimension swept from a random base (carpedm20 option 2)."""
    o = canvas.options
    pool = canvas.sweep_dims()
    dims = np.random.default_rng(o.seed).choice(pool, size=o.num_gifs,
                                                replace=o.num_gifs > len(pool))
    paths = []
    for index, dim in enumerate(dims):
        seed = o.seed + index
        z = walks.sweep(canvas.z_of([seed])[0], dim, canvas.values)
        name = f"gif{index:02d}_seed{seed}_dim{dim:03d}.gif"
        paths.append(canvas.gif(canvas.path(f"_seed{o.seed}", name),
                                walks.there_and_back(canvas.panels(z))))
    return paths


def zero_gifs(canvas):
    """One GIF per dimension, swept from z = 0 (carpedm20 option 3)."""
    zero = np.zeros(canvas.cfg.z_dim, np.float32)
    return [canvas.gif(canvas.path(file=f"dim{dim:03d}.gif"),
                       walks.there_and_back(canvas.panels(walks.sweep(zero, dim,
                                                                        canvas.values))))
            for dim in canvas.sweep_dims()]


def merged_gif(canvas):
    """One GIF: a 10x10 grid of sweeps from z = 0, played forward and back (carpedm20 option 4).

    Tile i sweeps the i-th dimension (of --dims, or the first 100). On MNIST tile i draws digit
    i % 10 unless --label is given, so each column is one digit.
    """
    dims = canvas.sweep_dims(MERGED_TILES)
    zero = np.zeros(canvas.cfg.z_dim, np.float32)
    z = np.concatenate([walks.sweep(zero, dim, canvas.values) for dim in dims])
    labels = canvas.labels_of(np.repeat(np.arange(len(dims)), len(canvas.values)))
    drawn = canvas.render(z, labels)
    tiles = drawn.reshape(len(dims), len(canvas.values), *drawn.shape[1:])
    frames = [grids.make_grid(tiles[:, step]) for step in range(len(canvas.values))]
    return [grids.save_gif(canvas.path(ext=".gif"), walks.there_and_back(frames),
                            canvas.options.fps)]


def interpolate(canvas):
    """Walks through --seeds: a strip PNG (open path) and a looping GIF (back to the start).

    On MNIST without --label the strip has one row per digit.
    """
    o = canvas.options
    points = canvas.z_of(o.seeds)
    name = "_seeds" + "-".join(str(seed) for seed in o.seeds)
    paths = []
    for kind in o.interp:
        strip = canvas.panels(walks.path(points, o.frames, kind))
        # [steps, k, ...] -> k rows of steps columns
        paths.append(grids.save_image(
            canvas.path(f"{name}_{kind}"),
            grids.make_grid(np.concatenate(strip.swapaxes(0, 1)), rows=strip.shape[1])))
        loop = canvas.panels(walks.path(np.concatenate([points, points[:1]]), o.frames, kind))
        paths.append(canvas.gif(canvas.path(f"{name}_{kind}", ext=".gif"), loop[:-1]))
    return paths


def best(canvas):
    """Best-of-N: score --search_num images with D, keep the top --num_samples.

    Writes the kept images as a grid (best first) and as files named with rank, seed and score,
    and scores.tsv listing every searched seed by rank.
    """
    o = canvas.options
    seeds = np.arange(o.seed, o.seed + o.search_num)
    labels = canvas.labels_of(seeds)
    pictures, scores = _search(canvas.generator, seeds, labels)
    order = np.argsort(-scores, kind="stable")
    kept = order[:o.num_samples]
    name = f"_seed{o.seed}_top{o.num_samples}of{o.search_num}"
    uint8 = canvas.enlarge(pictures[kept])
    paths = [grids.save_image(canvas.path(name), grids.make_grid(uint8))]
    for rank, (index, picture) in enumerate(zip(kept, uint8, strict=True), start=1):
        file = f"rank{rank:03d}_seed{seeds[index]}_score{scores[index]:.4f}.png"
        paths.append(grids.save_image(canvas.path(name, file), picture))
    table = canvas.path(name, "scores.tsv")
    rows = [f"{rank}\t{seeds[index]}\t{scores[index]:.6f}\t{int(rank <= len(kept))}\n"
            for rank, index in enumerate(order, start=1)]
    durable.write_atomically(table, ("rank\tseed\tscore\tkept\n" + "".join(rows)).encode())
    return [*paths, table]


def _search(generator, seeds, labels, chunk=256):
    """The uint8 pictures of `seeds` (and `labels`) and D's scores of them, a chunk at a time
    under a bar (thousands of candidates take a while)."""
    pictures, scores = [], []
    with progress_bar(desc="best-of-N", total=len(seeds), unit="img") as bar:
        for start in range(0, len(seeds), chunk):
            part = None if labels is None else labels[start:start + chunk]
            drawn, scored = generator.images_and_scores(seeds[start:start + chunk], labels=part)
            pictures.append(drawn)
            scores.append(scored)
            bar.update(len(drawn))
    return np.concatenate(pictures), np.concatenate(scores)


def files(canvas):
    """--num_samples images as single PNGs named with their seed (and digit on MNIST)."""
    o = canvas.options
    seeds = np.arange(o.seed, o.seed + o.num_samples)
    labels = canvas.labels_of(seeds)
    pictures = canvas.render(canvas.z_of(seeds), labels)
    paths = []
    for index, (seed, picture) in enumerate(zip(seeds, pictures, strict=True)):
        digit = "" if labels is None or o.label is not None else f"_digit{labels[index]}"
        paths.append(grids.save_image(canvas.path(file=f"seed{seed:06d}{digit}.png"), picture))
    return paths


def digits(canvas):
    """MNIST: one row per digit; column j is seed + j, so a column shares one z."""
    o = canvas.options
    count = canvas.cfg.y_dim
    columns = max(1, o.num_samples // count)
    z = canvas.z_of(np.arange(o.seed, o.seed + columns))
    return [canvas.grid(canvas.path(f"_seed{o.seed}"), np.tile(z, (count, 1)),
                        np.repeat(np.arange(count), columns), rows=count)]


def project(canvas):
    """The latent vector of --image (`Generator.project`): the picture beside its projection
    (PNG), the vector (.npy), its handle for the web page (_z.txt, also logged) and the search
    as a GIF, named with the picture's name.

    The --restarts start from seeds --seed, --seed + 1, ... and take --project_steps steps.
    """
    o = canvas.options
    found = canvas.generator.project(o.image, restarts=o.restarts, steps=o.project_steps,
                                     seed=o.seed, label=o.label)
    name = "_" + os.path.splitext(os.path.basename(o.image))[0]
    pair = canvas.enlarge(np.stack([found.target, found.image]))
    frames = canvas.enlarge(np.stack([np.broadcast_to(found.target, found.frames.shape),
                                      found.frames], axis=1))
    paths = [grids.save_image(canvas.path(name), grids.make_grid(pair, rows=1))]
    # Beside the PNG, whose folder now exists.
    paths.append(durable.write_atomically(canvas.path(name + "_z", ext=".npy"),
                                          _npy_bytes(found.z)))
    paths.append(durable.write_atomically(canvas.path(name + "_z", ext=".txt"),
                                          (found.handle + "\n").encode()))
    log.info("the projection's handle (paste it into the web page's seed box, or after # in "
             "its address): %s", found.handle)
    return [*paths, canvas.gif(canvas.path(name, ext=".gif"), frames)]


def _npy_bytes(array):
    """`array` as the bytes of a .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def progress(settings, options, checkpoint=None):
    """A GIF of the run's training grids (samples/<run>/train_*.png) in step order, up to the
    step of `checkpoint` when given: the fixed latent vectors drawn as training went, one frame
    per grid. Reads files and draws nothing, so it shows every grid written, also those of
    checkpoints no longer kept."""
    folder = settings.run_sample_dir
    last = None if checkpoint is None else checkpoint_files.step_of(checkpoint)
    steps = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        match = TRAINING_GRID.fullmatch(name)
        path = os.path.join(folder, name)
        if match and os.path.isfile(path) and (last is None or int(match[1]) <= last):
            steps[path] = int(match[1])
    written = sorted(steps, key=steps.get)
    require(written, f"no training grids (train_*.png) in {words.folder(folder)} up to step "
                     f"{'the last' if last is None else last}: train the run first, e.g. "
                     f"`{words.command()} --dataset {settings.dataset} --train`")
    frames = [grids.enlarge(load_rgb(path), options.scale) for path in written]
    # A resume with another --num_samples changes the grid's size: keep the newest size.
    frames = [frame for frame in frames if frame.shape == frames[-1].shape]
    path = os.path.join(folder, f"{PROGRESS}_{steps[written[-1]]:05d}.gif")
    return [grids.save_gif(path, frames, options.fps)]


MODES = {"grid": grid, "sweep": sweep, "sweep_gifs": sweep_gifs, "zero_gifs": zero_gifs,
         "merged_gif": merged_gif, "interpolate": interpolate, "best": best, "files": files,
         "digits": digits, "project": project, PROGRESS: progress}


def visualize(settings, options=None, checkpoint=None):
    """Run one visualize mode on the run's newest checkpoint (or the `checkpoint` path given);
    returns the paths written."""
    options = options or VisualizeOptions(num_samples=settings.num_samples)
    if options.mode == PROGRESS:
        return progress(settings, options, checkpoint)
    with Generator(settings, discriminator=options.mode == "best", checkpoint=checkpoint,
                   truncation=options.truncation) as generator:
        return MODES[options.mode](Canvas(generator, options, settings.run_sample_dir))


def listing(paths):
    """Lines saying what a mode wrote: each path, or `FOLDER/ (N files)` for a folder of many."""
    by_folder = collections.Counter(os.path.dirname(path) for path in paths)
    lines, shown = [], set()
    for path in paths:
        folder = os.path.dirname(path)
        if by_folder[folder] <= LISTED_FILES:
            lines.append(path)
        elif folder not in shown:
            shown.add(folder)
            lines.append(f"{folder}{os.sep} ({by_folder[folder]} files)")
    return lines
