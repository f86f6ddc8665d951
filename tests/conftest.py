"""One TensorFlow configuration for the whole test session.

Logical devices can be configured once per process, before TensorFlow runs an op. The tests that use
TensorFlow in-process share 4 logical CPUs, set here before any test module imports TensorFlow; tests that
need another configuration (or a fresh process) start a subprocess.
"""

import helpers

helpers.setup(seed=0, devices=4)
