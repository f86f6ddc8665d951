"""Hyperparameter tuning for ``04_hyperparameter_tuning``: scikit-learn searches and Keras Tuner.

Importing this package loads no TensorFlow, so the runner and the launcher can use :data:`TUNER_NAMES`:

* ``tuners``: the logged Keras Tuner classes, ``make_tuner``, trial tables (imports Keras Tuner)
* ``launch``: distributed searches (the chief and its workers, as processes or in joblib's pool)
* ``worker``: what each worker process runs (``python -m helpers.tuning.worker``), and the chief's oracle server
"""

from helpers.params import TUNER_NAMES

__all__ = ["TUNER_NAMES"]
