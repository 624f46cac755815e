"""How the suite is spread over processes (pytest-xdist): hooks that tests/conftest.py takes in.

The suite runs on WORKERS worker processes unless the command line says otherwise: `-n 0` (or
`-p no:xdist`, or `--pdb`) runs it in pytest's own process, as for debugging one test; `-n auto`
makes one worker per core. Each test file goes whole to one worker (`--dist loadfile`), so a
module-scoped fixture (a cluster's run, a served page, an export) is made once; each worker
makes the session-scoped runs it needs itself, except those tests/shared_runs.py makes once for
all workers.
"""

import pytest

# Most of the suite's time is one busy core (Python, TensorFlow start-ups, small graphs), so two
# processes on the 2-core machine the suite is sized for take about half the time.
WORKERS = 2


def hands_out_tests_only(config):
    """Whether this process is xdist's controller, which sends tests to workers and runs none
    (so it needs no TensorFlow)."""
    return config.getoption("dist", "no") != "no" and not config.getoption("collectonly")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Make WORKERS workers and hand them whole files (`--dist loadfile`), where the command
    line names neither. Set here, not in an ini file's addopts: `-n` there would be an unknown
    flag under `-p no:xdist`. Not `--dist loadgroup`: with pytest 9.2, xdist 3.8's groups never
    reach the test ids it schedules by (it sets `item._nodeid`, which pytest no longer reads)."""
    if hasattr(config, "workerinput"):
        return  # a worker itself: it runs what it is sent (more workers would nest forever)
    if not config.pluginmanager.hasplugin("xdist") or config.getoption("usepdb"):
        return  # no workers to make, or a debugger that needs this process's terminal
    if config.option.numprocesses is None:
        config.option.numprocesses = WORKERS
    if config.option.dist == "no":
        config.option.dist = "loadfile"  # xdist sets "no" again for -n 0
