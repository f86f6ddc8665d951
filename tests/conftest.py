"""One TensorFlow configuration for the whole test session, made only when a test asks for it.

Logical devices can be configured once per process, before TensorFlow runs an op. The tests that use
TensorFlow in-process request the session fixture ``tf_runtime`` (a module does so with
``pytestmark = pytest.mark.usefixtures("tf_runtime")``): 4 logical CPUs, seed 0, quiet logs. Tests that need
another configuration (or a fresh process) start a subprocess. Pure-Python test files never import TensorFlow,
so ``make unit`` on them takes seconds.
"""

from pathlib import Path

import pytest

RECORDED_DURATIONS = Path(__file__).resolve().parent.parent / "docs" / "test-durations.md"


@pytest.fixture(scope="session")
def tf_runtime():
    """``helpers.setup(seed=0, devices=4)``, once per test process; returns its runtime description."""
    from tests.support.tensorflow_session import RUNTIME

    return RUNTIME


def pytest_collection_finish(session):
    """Freeze what collecting imported (TensorFlow, where a test module imports it at the top) out of the garbage
    collector's reach, as ``helpers.runtime.import_without_collecting`` does where the package imports it: full
    collections and the one at exit then skip those objects."""
    import gc

    gc.freeze()


def pytest_addoption(parser):
    parser.addoption("--durations-file", default=None, metavar="PATH",
                     help="write every test's duration (setup + call + teardown), slowest first, to PATH (markdown)")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Keep the per-test durations of a run (``make test`` writes runs/test-durations.md; the fresh-clone run's
    copy is committed as docs/test-durations.md)."""
    path = config.getoption("--durations-file")
    if not path:
        return
    from tests.support import durations

    reports = [r for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
               for r in terminalreporter.stats.get(key, []) if hasattr(r, "duration")]
    durations.write(path, reports, exitstatus, worker_count=getattr(config.option, "numprocesses", None))


def _group_of(item) -> str | None:
    """The item's xdist group as xdist names it (its groups' names sorted and joined by ``_``; ``default`` for a
    marker without a name), ``None`` when it has none."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    return "_".join(sorted(names)) if names else None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which appends the group to the test ids
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup``: a test outside any xdist group joins its module's group, so one worker runs
    the whole module and sets up its module-scoped fixtures (a served model, a search) once, instead of once in
    every worker that gets some of its tests; then the groups, longest first by the durations of the committed
    fresh-clone run (docs/test-durations.md), so that the workers stay busy to the end instead of one of them
    finishing a long group alone. The workers collect and their order is what xdist schedules; xdist sets
    ``dist`` to ``"no"`` there and ``loadgroup`` instead."""
    if not (getattr(config.option, "loadgroup", False) or getattr(config.option, "dist", "no") == "loadgroup"):
        return
    from tests.support import durations

    for item in items:
        if _group_of(item) is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items[:] = durations.longest_first(items, durations.read(RECORDED_DURATIONS), _group_of)
