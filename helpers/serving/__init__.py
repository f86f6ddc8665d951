"""TensorFlow Serving for ``03_serving``: what the notebook teaches, against the real server or the stand-in.

* ``client``: start a server (the real ``tensorflow_model_server`` when on PATH, else the stand-in, both
  through ``helpers.procs``), REST URLs, gRPC stubs and requests, the A/B traffic splitter
* ``bench`` (+ ``bench_report``): the batching benchmark, ``python -m helpers.serving.bench``
* ``local_server/``: the stand-in itself, ``python -m helpers.serving`` (same flags as the real binary)

Importing this package is cheap; TensorFlow is imported by the modules that need it.
"""
