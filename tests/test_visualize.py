"""--visualize on real checkpoints: every mode's files, best-of-N order, seeds, MNIST, errors."""

import csv
import re
import shutil
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from helpers import files_under, main_in_process, progress_lines, refusal, run_main

from dcgan import checkpoint_files, grids, latent, walks
from dcgan.errors import UsageError
from dcgan.generator import Generator
from dcgan.grids import GAP, to_uint8
from dcgan.session import TrainedGenerator
from dcgan.visualize import visualize
from dcgan.visualize_options import VisualizeOptions

SIZE = 16  # conftest's TINY_FLAGS output size
FRAMES = 4
SMALL = {"num_samples": 6, "frames": FRAMES, "dims": (0, 3), "num_gifs": 2, "search_num": 24,
         "seeds": (3, 9, 4), "seed": 11}


def _run(trained_run, tmp_path, mode, **changes):
    _, run = trained_run
    options = VisualizeOptions(mode=mode, **{**SMALL, **changes})
    return [Path(p) for p in visualize(run.replace(sample_dir=str(tmp_path)), options)]


def _frames(path):
    return imageio.mimread(path)


def _grid_shape(rows, cols, size=SIZE):
    """Height and width of a grid of rows x cols tiles, GAP pixels apart."""
    return rows * size + (rows - 1) * GAP, cols * size + (cols - 1) * GAP


def _tiles(grid, rows, cols, size=SIZE):
    """The tiles of a grid picture, [rows, cols, size, size, ...]."""
    def tile(index):
        top, left = grids.tile_origin(index, (size, size), cols)
        return grid[top:top + size, left:left + size]
    return np.stack([tile(i) for i in range(rows * cols)]).reshape(rows, cols, size, size,
                                                                  *grid.shape[2:])


def _seed_images(run, seeds, labels=None):
    with TrainedGenerator(run) as generator:
        z = latent.seeds_z(seeds, run.model.z_dim, run.model.z_dist)
        return to_uint8(generator.generate(z, labels))


# --- the latent geometry -------------------------------------------------------------------

def test_seed_vector_does_not_depend_on_its_neighbours():
    alone = latent.seed_z(42, 16)
    among = latent.seeds_z([7, 42, 9], 16)[1]
    assert np.array_equal(alone, among)
    assert not np.array_equal(latent.seed_z(43, 16), alone)


@pytest.mark.parametrize("kind", ["lerp", "slerp"])
def test_interpolation_path_starts_and_ends_on_the_points(kind):
    points = latent.seeds_z([1, 2, 3], 16, "normal01")
    walk = walks.path(points, 5, kind)
    assert walk.shape == (2 * 4 + 1, 16)
    assert np.array_equal(walk[0], points[0]) and np.array_equal(walk[4], points[1])
    assert np.array_equal(walk[-1], points[2])


def test_slerp_stays_on_the_sphere_where_lerp_cuts_inside():
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    t = np.linspace(0, 1, 9)
    assert np.allclose(np.linalg.norm(walks.slerp(a, b, t), axis=1), 1.0, atol=1e-6)
    assert np.linalg.norm(walks.lerp(a, b, t)[4]) == pytest.approx(np.sqrt(0.5))


def test_sweep_and_there_and_back():
    batch = walks.sweep(np.zeros(5, np.float32), 2, walks.sweep_values("uniform_signed", 3))
    assert batch[:, 2].tolist() == [-1.0, 0.0, 1.0] and not batch[:, [0, 1, 3, 4]].any()
    assert walks.there_and_back([0, 1, 2, 3]) == [0, 1, 2, 3, 2, 1]


# --- every mode on a real checkpoint -------------------------------------------------------

def test_grid(trained_run, tmp_path):
    (path,) = _run(trained_run, tmp_path, "grid")
    assert path.name == "grid_00032_seed11.png"
    assert imageio.imread(path).shape == (*_grid_shape(2, 3), 3)  # 6 images: 2 rows of 3


def test_sweep_writes_one_grid_per_dimension(trained_run, tmp_path):
    paths = _run(trained_run, tmp_path, "sweep", num_samples=8)
    assert [p.name for p in paths] == ["dim000.png", "dim003.png"]
    grid = imageio.imread(paths[0])
    assert grid.shape == (*_grid_shape(2, FRAMES), 3)  # 8 images: 2 bases x 4 steps
    # Along a row only dimension 0 moves, so neighbouring columns differ.
    assert np.abs(np.diff(_tiles(grid, 2, FRAMES)[0].astype(int), axis=0)).max()


@pytest.mark.parametrize("mode", ["sweep_gifs", "zero_gifs"])
def test_sweep_gifs_play_forward_and_back(trained_run, tmp_path, mode):
    paths = _run(trained_run, tmp_path, mode)
    assert len(paths) == 2 and all(p.suffix == ".gif" for p in paths)
    for path in paths:
        frames = _frames(path)
        assert len(frames) == 2 * FRAMES - 2
        assert frames[0].shape == (SIZE, SIZE, 3)
        assert np.array_equal(frames[1], frames[-1])  # the way back retraces the way out


def test_zero_gifs_start_from_zero(trained_run, tmp_path):
    _, run = trained_run
    (path,) = _run(trained_run, tmp_path, "zero_gifs", dims=(5,), frames=3)
    with TrainedGenerator(run) as generator:
        middle = to_uint8(generator.generate(np.zeros((1, run.model.z_dim), np.float32)))[0]
    # 3 steps over [-1, 1]: the middle frame is z = 0. GIF palettes are lossy, so compare loosely.
    assert np.abs(_frames(path)[1].astype(int) - middle).mean() < 8


def test_merged_gif_tiles_one_sweep_per_dimension(trained_run, tmp_path):
    (path,) = _run(trained_run, tmp_path, "merged_gif", dims=(0, 1, 2, 3, 4, 5))
    assert path.name == "merged_gif_00032.gif"
    frames = _frames(path)
    assert len(frames) == 2 * FRAMES - 2 and frames[0].shape == (*_grid_shape(2, 3), 3)


def test_merged_gif_defaults_to_a_tile_per_dimension(trained_run, tmp_path):
    (path,) = _run(trained_run, tmp_path, "merged_gif", dims=None)
    assert _frames(path)[0].shape == (*_grid_shape(4, 4), 3)  # z_dim 16: 4x4 tiles


def test_interpolation_strip_ends_are_the_seeds_images(trained_run, tmp_path):
    _, run = trained_run
    paths = _run(trained_run, tmp_path, "interpolate")
    assert [p.name for p in paths] == [f"interpolate_00032_seeds3-9-4_{kind}.{ext}"
                                       for kind in ("lerp", "slerp") for ext in ("png", "gif")]
    ends = _seed_images(run, [3, 4])
    steps = 2 * (FRAMES - 1) + 1
    for strip_path, gif_path in (paths[:2], paths[2:]):
        strip = imageio.imread(strip_path)
        assert strip.shape == (*_grid_shape(1, steps), 3)
        assert np.array_equal(strip[:, :SIZE], ends[0])
        assert np.array_equal(strip[:, -SIZE:], ends[1])
        # The GIF closes the loop: 3 legs of 3 steps, the start not repeated at the end.
        assert len(_frames(gif_path)) == 3 * (FRAMES - 1)


def test_best_of_n_keeps_the_images_d_scores_highest(trained_run, tmp_path, capsys):
    _, run = trained_run
    paths = _run(trained_run, tmp_path, "best")
    # The search has a bar; captured here, so it is whole lines: its start and its end.
    lines = progress_lines(capsys.readouterr().err, "best-of-N")
    assert lines[0].startswith("best-of-N:   0% 0/24 [") and \
        lines[-1].startswith("best-of-N: 100% 24/24 [") and len(lines) == 2, lines
    grid, table = paths[0], paths[-1]
    assert grid.name == "best_00032_seed11_top6of24.png"
    assert imageio.imread(grid).shape == (*_grid_shape(2, 3), 3)
    kept_files = paths[1:-1]
    kept_seeds = [int(re.search(r"_seed(\d+)_", p.name)[1]) for p in kept_files]
    # Score every searched seed again, independently of the mode's own bookkeeping.
    seeds = np.arange(11, 11 + 24)
    with TrainedGenerator(run, with_discriminator=True) as generator:
        pictures = generator.generate(latent.seeds_z(seeds, run.model.z_dim, run.model.z_dist))
        scores = dict(zip(seeds.tolist(), generator.score(pictures).tolist(), strict=True))
    kept = [scores[s] for s in kept_seeds]
    rejected = [scores[s] for s in seeds.tolist() if s not in kept_seeds]
    assert len(set(kept_seeds)) == 6 and min(kept) >= max(rejected)
    assert kept == sorted(kept, reverse=True)  # best first
    assert len(set(scores.values())) == len(scores)  # no ties: the order is D's own
    rows = list(csv.DictReader(table.open(), delimiter="\t"))
    assert len(rows) == 24 and [int(r["seed"]) for r in rows[:6]] == kept_seeds
    # A kept file is exactly the image of its seed.
    assert np.array_equal(imageio.imread(kept_files[0]), _seed_images(run, kept_seeds[:1])[0])


def test_same_seed_gives_the_same_file_from_the_command_line(trained_run, tmp_path):
    workdir, _ = trained_run
    args = ["--visualize", "--mode", "files", "--sample_dir", str(tmp_path)]
    many = main_in_process([*args, "--seed", "20", "--num_samples", "4"], workdir)
    assert many.returncode == 0, many.stderr
    written = many.stdout.split()
    assert [Path(p).name for p in written] == [f"seed0000{s}.png" for s in range(20, 24)]
    first = imageio.imread(written[2])
    assert first.shape == (SIZE, SIZE, 3)
    one = main_in_process([*args, "--seed", "22", "--num_samples", "1"], workdir)
    assert one.returncode == 0, one.stderr
    assert one.stdout.split() == [written[2]]
    assert np.array_equal(imageio.imread(one.stdout.strip()), first)
    other = _seed_images(trained_run[1], [23])[0]
    assert not np.array_equal(other, first)


def test_scale_enlarges_every_picture_pixel_for_pixel(trained_run, tmp_path):
    (plain,) = _run(trained_run, tmp_path / "plain", "grid")
    (scaled,) = _run(trained_run, tmp_path / "scaled", "grid", scale=3)
    big = imageio.imread(scaled)
    assert big.shape == (*_grid_shape(2, 3, 3 * SIZE), 3)  # the tiles grow, the gap does not
    expected = grids.enlarge(_tiles(imageio.imread(plain), 2, 3), 3)
    assert np.array_equal(_tiles(big, 2, 3, 3 * SIZE), expected)
    gifs = _run(trained_run, tmp_path / "gifs", "zero_gifs", dims=(1,), scale=2)
    assert _frames(gifs[0])[0].shape == (2 * SIZE, 2 * SIZE, 3)


def test_truncation_draws_the_generators_pulled_pictures_beside_the_plain_ones(trained_run,
                                                                               tmp_path):
    (plain,) = _run(trained_run, tmp_path, "grid")
    (pulled,) = _run(trained_run, tmp_path, "grid", truncation=0.5)
    assert pulled.parent == plain.parent and pulled.name == "grid_00032_seed11_psi0.5.png"
    with Generator(trained_run[1], truncation=0.5) as generator:
        expected = generator.images(seeds=range(11, 17))
    assert np.array_equal(_tiles(imageio.imread(pulled), 2, 3).reshape(expected.shape), expected)
    assert not np.array_equal(imageio.imread(pulled), imageio.imread(plain))
    (walk,) = _run(trained_run, tmp_path, "zero_gifs", dims=(1,), truncation=0.5)
    assert walk.parent.name == "zero_gifs_00032_psi0.5"


def test_progress_animates_the_training_grids_in_step_order(trained_run, tmp_path):
    workdir, run = trained_run
    folder = tmp_path / run.run_name
    shutil.copytree(workdir / "samples" / run.run_name, folder)
    (gif,) = _run(trained_run, tmp_path, "progress", fps=4)
    assert gif == folder / "progress_00032.gif"
    written = [imageio.imread(folder / name) for name in ("train_02_00016.png",
                                                          "train_04_00032.png")]
    frames = [frame[:, :, :3].astype(int) for frame in _frames(gif)]
    # GIF keeps 256 colours a frame: each frame is its grid up to that rounding, and nearer to
    # it than to the other grid.
    distance = np.array([[np.abs(frame - grid).mean() for grid in written] for frame in frames])
    assert distance.shape == (2, 2) and distance[0, 0] < distance[0, 1], distance
    assert distance[1, 1] < distance[1, 0] and distance.diagonal().max() < 2, distance
    (bigger,) = _run(trained_run, tmp_path, "progress", scale=2)
    assert _frames(bigger)[0].shape[:2] == tuple(2 * n for n in written[0].shape[:2])
    # --checkpoint 16: the progress up to step 16, one frame.
    options = VisualizeOptions(mode="progress", num_samples=6)
    older = f"{run.run_checkpoint_dir}/{checkpoint_files.PREFIX}-16"
    (early,) = visualize(run.replace(sample_dir=str(tmp_path)), options, older)
    assert Path(early).name == "progress_00016.gif" and len(_frames(early)) == 1


def test_progress_without_training_grids_says_to_train(trained_run, tmp_path):
    with pytest.raises(UsageError, match=r"no training grids \(train_\*\.png\) in .*: train"):
        _run(trained_run, tmp_path, "progress")


def test_a_folder_of_many_files_is_printed_as_its_name_and_count(trained_run, tmp_path):
    workdir, _ = trained_run
    result = main_in_process(["--visualize", "--mode", "files", "--seed", "5", "--num_samples",
                              "12", "--sample_dir", str(tmp_path)], workdir)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "anime_8_16_16" / "files_00032"
    assert result.stdout.splitlines() == [f"{folder}/ (12 files)"]
    assert len(list(folder.iterdir())) == 12


def test_option_aliases_carpedm20(trained_run, tmp_path):
    workdir, _ = trained_run
    result = main_in_process(["--visualize", "--option", "4", "--dims", "0-3", "--frames", "3",
                              "--sample_dir", str(tmp_path)], workdir)
    assert result.returncode == 0, result.stderr
    (path,) = result.stdout.split()
    assert Path(path).name == "merged_gif_00032.gif" and len(_frames(path)) == 4


# --- conditional MNIST ---------------------------------------------------------------------

# conftest's mnist_run: the EMA it keeps changes which weights draw, not what is drawn.

def test_mnist_zero_gifs_show_every_digit(mnist_run, tmp_path):
    # carpedm20's option 3 fed no labels to the conditional sampler and crashed.
    result = main_in_process(["--visualize", "--dataset", "mnist", "--option", "3", "--dims",
                              "0,7", "--frames", "3", "--sample_dir", str(tmp_path)], mnist_run)
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert [Path(p).name for p in paths] == ["dim000.gif", "dim007.gif"]
    frames = _frames(paths[0])
    assert len(frames) == 4 and frames[0].shape[:2] == _grid_shape(1, 10, 28)


def test_mnist_label_and_digit_rows(mnist_run, tmp_path):
    from dcgan import settings

    folder = mnist_run / "checkpoints" / "mnist_8_28_28"
    run = settings.load(folder).replace(checkpoint_dir=str(folder.parent),
                                        sample_dir=str(tmp_path))

    def draw(mode, **options):
        options = VisualizeOptions(mode=mode, **{"num_samples": run.num_samples, **options})
        return [Path(p) for p in visualize(run, options)]

    (one,) = draw("zero_gifs", dims=(1,), frames=3, label=7)
    assert one.parent.name == "zero_gifs_00016_digit7" and _frames(one)[0].shape[:2] == (28, 28)
    (grid,) = draw("digits", num_samples=30, seed=2)
    picture = imageio.imread(grid)
    assert picture.shape == _grid_shape(10, 3, 28)
    tiles = _tiles(picture, 10, 3, 28)
    assert not np.array_equal(tiles[0, 0], tiles[1, 0])  # rows are different digits
    assert not np.array_equal(tiles[0, 0], tiles[0, 1])  # columns are different seeds
    files = draw("files", num_samples=2, seed=13)
    assert [p.name for p in files] == ["seed000013_digit3.png", "seed000014_digit4.png"]
    # The file of seed 13 is digit 3 drawn from seed 13's z.
    with TrainedGenerator(run) as generator:
        again = to_uint8(generator.generate(latent.seeds_z([13], 8, run.model.z_dist), [3]))
    assert np.array_equal(imageio.imread(files[0]), again[0, :, :, 0])


# --- mistakes: one line, exit status 2, before TensorFlow loads ----------------------------
# The options are checked against the run found (its run.json), before TensorFlow loads, so
# the table runs in this process: helpers.refusal fails a row that would start TensorFlow.
# main.py's own contract is proven by one row here and tests/test_cli.py's subprocess rows.

BAD = [
    (["--mode", "nope"], "--mode must be one of"),
    (["--option", "5"], "--option must be 0-4"),
    (["--option", "1", "--mode", "grid"], "--option 1 is --mode sweep"),
    (["--mode", "sweep", "--dims", "16"], "--dims 16 is out of range"),
    (["--mode", "sweep", "--dims", "x"], "--dims takes numbers"),
    (["--label", "3"], "trained without labels"),
    (["--mode", "digits"], "needs a run trained on digit labels"),
    (["--mode", "interpolate", "--seeds", "4"], "--seeds needs at least two"),
    (["--mode", "grid", "--seeds", "4,5"], "--seeds has no effect with --mode grid"),
    (["--mode", "best", "--search_num", "4"], "--search_num 4 is smaller than --num_samples"),
    (["--mode", "sweep", "--frames", "1"], "--frames must be at least 2"),
    # Ranges are checked before they are expanded: no MemoryError, no wait.
    (["--mode", "sweep", "--dims", "0-999999999999"], "--dims 999999999999 is out of range"),
    (["--mode", "merged_gif", "--dims", "3,0-99999999"], "--dims 99999999 is out of range"),
    (["--mode", "interpolate", "--seeds", "0-999999999999"], "--seeds must be in 0.."),
    (["--mode", "interpolate", "--seeds", "0-2147483647"], "--seeds names more than"),
    (["--mode", "sweep", "--dims", "0-15,0-15"], "--dims names more than 16 numbers"),
    (["--num_samples", "1000000000"], "--num_samples 1000000000 is more than 65536"),
    (["--mode", "best", "--search_num", "100000000"], "--search_num 100000000 is more than"),
    (["--mode", "sweep", "--frames", "100000000"], "--frames 100000000 is more than 1000"),
    (["--mode", "interpolate", "--seeds", "0-999", "--frames", "1000"],
     "1000 --seeds x --frames 1000 is more than 65536 images at once"),
    (["--seed", "-1"], "--seed must be in 0.."),
    (["--scale", "0"], "--scale must be 1-16"),
    (["--scale", "17"], "--scale must be 1-16"),
    (["--truncation", "0"], "--truncation must be a number in (0, 1]"),
    (["--truncation", "1.5"], "--truncation must be a number in (0, 1]"),
    (["--mode", "progress", "--truncation", "0.5"], "--truncation has no effect with --mode "
                                                    "progress"),
    (["--mode", "progress", "--seed", "3"], "--seed has no effect with --mode progress"),
    (["--mode", "progress", "--num_samples", "9"], "--num_samples has no effect with --mode "
                                                   "progress"),
]


BAD_ROWS = [pytest.param(args, message, id=" ".join(args)) for args, message in BAD]


@pytest.mark.parametrize(("args", "message"), BAD_ROWS)
def test_bad_visualize_flags(trained_run, args, message, monkeypatch):
    workdir, _ = trained_run
    before = files_under(workdir)
    monkeypatch.chdir(workdir)
    line = refusal(["--visualize", *args])
    assert message in line and "\n" not in line, line
    assert files_under(workdir) == before


def test_a_bad_visualize_flag_from_main_py_is_status_2_and_one_line(trained_run, monkeypatch):
    """Slow on purpose (a Python start): one row of the table through main.py, after the run is
    found. Exit status 2, the in-process refusal as its one `error:` line, nothing written."""
    workdir, _ = trained_run
    before = files_under(workdir)
    monkeypatch.chdir(workdir)
    args = ["--visualize", "--mode", "nope"]
    expected = f"error: {refusal(args)}"
    result = run_main(args, workdir)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == expected
    assert files_under(workdir) == before


def test_no_checkpoint_names_the_folder_and_the_train_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refusal(["--visualize", "--dataset", "anime", "--mode", "best"])
    assert "in checkpoints/" in line
    assert "`python main.py --dataset anime --train`" in line
    assert files_under(tmp_path) == []


def test_every_visualize_mode_has_its_flags_and_a_picture_maker():
    from dcgan import visualize as pictures
    from dcgan import visualize_options

    assert set(pictures.MODES) == set(visualize_options.MODES) == set(visualize_options.MODE_FLAGS)


def test_size_flags_and_checkpoint_pick_what_is_drawn(own_trained_run):
    workdir, run = own_trained_run
    # --output_size alone (the default dataset is mnist) finds the anime run that has it.
    older = main_in_process(["--visualize", "--output_size", "16", "--checkpoint", "16",
                             "--seed", "3"], workdir)
    assert older.returncode == 0, older.stderr
    assert older.stdout.split()[-1] == "samples/anime_8_16_16/grid_00016_seed3.png"
    path = f"checkpoints/{run.run_name}/DCGAN.model-16.index"
    by_path = main_in_process(["--visualize", "--checkpoint", path, "--seed", "4"], workdir)
    assert by_path.returncode == 0, by_path.stderr
    assert by_path.stdout.split()[-1] == "samples/anime_8_16_16/grid_00016_seed4.png"
    missing = main_in_process(["--visualize", "--checkpoint", "20"], workdir)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        f"error: no checkpoint 20 in checkpoints/anime_8_16_16/ "
        f"({workdir / 'checkpoints' / 'anime_8_16_16'}): pass --checkpoint with one of its "
        f"steps (16, 32)")
