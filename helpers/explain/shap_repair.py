"""The one private TensorFlow API this package touches, and why (``07_interpretability``).

shap 0.51's DeepExplainer swaps ``tensorflow.python.eager.execute.record_gradient`` for its own function
while it runs, and puts the original back only when it succeeds: after a failure, every later gradient in
the process fails with "LookupError: gradient registry has no entry for: shap_...". No public API restores
it, so this module keeps TensorFlow's own function (captured at import time, before any explainer could
have run) and puts it back. Checked with shap 0.51.0 and TensorFlow 2.21.0; see the README's list of
private APIs.
"""

from __future__ import annotations

from tensorflow.python.eager import execute as _tf_execute

_RECORD_GRADIENT = _tf_execute.record_gradient


def gradient_recording_patched() -> bool:
    """True while TensorFlow's gradient recording is not its own (a failed DeepExplainer left it patched)."""
    return _tf_execute.record_gradient is not _RECORD_GRADIENT


def restore_gradient_recording() -> bool:
    """Put TensorFlow's own gradient recording back; returns True if it had been left patched."""
    patched = gradient_recording_patched()
    _tf_execute.record_gradient = _RECORD_GRADIENT
    return patched
