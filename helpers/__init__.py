"""Advanced TensorFlow, tested: the helpers behind the workbook's notebooks.

``import helpers`` is cheap (no TensorFlow); the topic modules import TensorFlow when they are imported.
"""

from helpers.runtime import Runtime, free_port, record, setup

__all__ = ["Runtime", "free_port", "record", "setup"]
