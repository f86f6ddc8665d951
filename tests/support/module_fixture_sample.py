"""Six tests sharing a module-scoped fixture, run by tests/test_project.py with two xdist workers: the fixture
appends the pid of the worker that set it up to the file ``$MODULE_FIXTURE_PIDS``."""

import os

import pytest


@pytest.fixture(scope="module")
def set_up_once():
    with open(os.environ["MODULE_FIXTURE_PIDS"], "a") as pids:
        pids.write(f"{os.getpid()}\n")


@pytest.mark.parametrize("n", range(6))
def test_uses_the_module_fixture(set_up_once, n):
    pass
