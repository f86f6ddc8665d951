"""TensorFlow Serving, run for real: a local server that speaks TensorFlow Serving's protocol, its clients,
batching and a benchmark (taught in ``notebooks/03_serving.ipynb``).

``tensorflow_model_server`` ships only as a Docker image or from an outside apt repository. The notebook
uses it when it is on PATH; otherwise it starts ``python -m helpers.serving`` with the same flags, which
serves the same REST paths, JSON bodies, status codes and error texts, and the gRPC PredictionService and
ModelService of ``tensorflow-serving-api``. Modules:

* ``flags``: command-line flags, model config file, batching parameters file (text protobufs)
* ``models``: SavedModel versions, version policy, labels, polling    * ``batching``: the batch scheduler
* ``json_tensor``/``rest``: the REST API (tornado)                      * ``grpc_service``: the gRPC API
* ``server``: the process (``python -m helpers.serving``)              * ``client``: clients, launcher, A/B
* ``bench``: ``python -m helpers.serving.bench``

Importing this package is cheap; TensorFlow is imported by the modules that need it.
"""

from helpers.serving.local_server.flags import BatchingParameters, FlagError, to_argv

__all__ = ["BatchingParameters", "FlagError", "to_argv"]
