"""The one TensorFlow configuration of a test process: imported by the test modules that run TensorFlow
in-process (directly, or through the ``tf_runtime`` fixture of tests/conftest.py), before any of them runs an
op. Logical devices can be configured once per process, before the first op, so every such module gets the
same: 4 logical CPUs, seed 0, quiet logs."""

import helpers

RUNTIME = helpers.setup(seed=0, devices=4)
