"""The stand-in for ``tensorflow_model_server`` (``python -m helpers.serving``), apart from the lesson.

Notebook 03 teaches the client side (REST, gRPC, versions, labels, A/B, batching); this package is only the
substitute that answers it where the real C++ binary is not installed. It must behave as the real one for
models and command lines written for it; the spec is TensorFlow Serving's source and g3doc. Modules:

* ``flags``: command-line flags, model config file, batching parameters file (text protobufs)
* ``servables``: SavedModel versions, version policy, labels, polling    * ``batching``: the batch scheduler
* ``json_tensor``/``rest``: the REST API (tornado)                      * ``grpc_service``: the gRPC API
* ``status``: TF Serving's error codes and texts                        * ``server``: the process

Importing this package is cheap; TensorFlow is imported by the modules that need it.
"""
