"""One TensorFlow configuration for the whole test session, made only when a test asks for it.

Logical devices can be configured once per process, before TensorFlow runs an op. The tests that use
TensorFlow in-process request the session fixture ``tf_runtime`` (a module does so with
``pytestmark = pytest.mark.usefixtures("tf_runtime")``): 4 logical CPUs, seed 0, quiet logs. Tests that need
another configuration (or a fresh process) start a subprocess. Pure-Python test files never import TensorFlow,
so ``make unit`` on them takes seconds.
"""

import pytest


@pytest.fixture(scope="session")
def tf_runtime():
    """``helpers.setup(seed=0, devices=4)``, once per test process; returns its runtime description."""
    from tests.support.tensorflow_session import RUNTIME

    return RUNTIME
