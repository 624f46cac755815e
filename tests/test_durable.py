"""dcgan/durable.py: files created new and never through a link, folders swapped in whole."""

import errno
import os
import subprocess
import sys

import pytest

from dcgan import durable


@pytest.fixture
def victim(tmp_path):
    """A file that a link planted where we write points to: it must stay as it is."""
    path = tmp_path / "victim.txt"
    path.write_text("precious")
    return path


def test_a_new_file_refuses_a_link_and_names_the_file(tmp_path, victim):
    os.symlink(victim, tmp_path / "out.bin")
    with pytest.raises(OSError) as raised:
        durable.write_new(tmp_path / "out.bin", b"new")
    assert raised.value.errno == errno.EEXIST and raised.value.filename == str(tmp_path / "out.bin")
    assert victim.read_text() == "precious"


def test_an_atomic_write_replaces_a_link_and_never_writes_through_it(tmp_path, victim):
    os.symlink(victim, tmp_path / "run.json")
    # A link planted under the temporary name too (the next pid's, or ours).
    os.symlink(victim, tmp_path / f"run.json.tmp{os.getpid()}")
    durable.write_atomically(tmp_path / "run.json", b"{}")
    assert victim.read_text() == "precious"
    written = tmp_path / "run.json"
    assert not written.is_symlink() and written.read_bytes() == b"{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "victim.txt"]


def test_a_streamed_replacement_is_whole_or_absent_and_may_choose_its_name(tmp_path):
    target = tmp_path / "picture"
    target.write_bytes(b"old")
    with pytest.raises(OSError) as raised, durable.replacing(target) as new:
        new.file.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")  # the disk fills mid-write
    assert raised.value.filename == str(target)  # the user's file, not our temporary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture"]
    assert target.read_bytes() == b"old"
    with durable.replacing(target, tmp_path / ".picture.part") as new:
        new.file.write(b"\xff\xd8 a jpeg")
        new.path = f"{target}.jpg"  # named by what was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture", "picture.jpg"]
    assert (tmp_path / "picture.jpg").read_bytes() == b"\xff\xd8 a jpeg"


def test_a_write_past_a_file_size_limit_names_the_file_and_leaves_nothing(tmp_path):
    # RLIMIT_FSIZE binds root too; Python ignores SIGXFSZ, so the write fails with EFBIG.
    script = ("import resource, sys\n"
              "from dcgan import durable\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
              "try:\n"
              "    durable.write_new(sys.argv[1], bytes(5000))\n"
              "except OSError as error:\n"
              "    print(error.errno, error.filename)\n")
    target = tmp_path / "big.bin"
    result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.split() == [str(errno.EFBIG), str(target)]
    assert not target.exists()


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_swap_replaces_the_folder_whole(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old")
    fresh = durable.fresh_folder(target)
    assert os.path.basename(fresh) == f".run.new-{os.getpid()}"
    durable.write_new(os.path.join(fresh, "new.txt"), b"new")
    durable.swap_in(fresh, target)
    assert _tree(target) == {"new.txt": b"new"}
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_swap_onto_a_link_removes_the_link_not_what_it_points_to(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("precious")
    os.symlink(elsewhere, tmp_path / "run")
    fresh = durable.fresh_folder(tmp_path / "run")
    durable.swap_in(fresh, tmp_path / "run")
    assert not (tmp_path / "run").is_symlink() and (tmp_path / "run").is_dir()
    assert (elsewhere / "keep.txt").read_text() == "precious"


def _dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_a_killed_swap_are_cleared_and_a_parked_folder_put_back(tmp_path):
    target, dead = tmp_path / "run", _dead_pid()
    # Killed between the swap's two renames: the old folder parked, the new one half-built.
    (tmp_path / f".run.old-{dead}").mkdir()
    (tmp_path / f".run.old-{dead}" / "model.json").write_text("good")
    (tmp_path / f".run.new-{dead}").mkdir()
    (tmp_path / f".run.new-{dead}" / "half").write_text("half")
    # A link planted under the name this process will build in.
    os.symlink(tmp_path, tmp_path / f".run.new-{os.getpid()}")
    (tmp_path / ".other.new-1").mkdir()  # another folder's: not ours to touch
    fresh = durable.fresh_folder(target)
    assert _tree(target) == {"model.json": b"good"}
    assert os.path.isdir(fresh) and not os.path.islink(fresh) and not os.listdir(fresh)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.new-1", f".run.new-{os.getpid()}", "run"]
