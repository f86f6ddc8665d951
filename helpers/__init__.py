"""Advanced TensorFlow, tested: the helpers behind the workbook's notebooks.

``import helpers`` is cheap (no TensorFlow); the topic modules import TensorFlow when they are imported.
"""

from helpers.procs import free_port
from helpers.runtime import Runtime, check_floor, record, setup

__all__ = ["Runtime", "check_floor", "free_port", "record", "setup"]
