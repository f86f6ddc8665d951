"""``python -m helpers.serving --flag=value ...``: the local, protocol-compatible tensorflow_model_server."""

import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from helpers.serving.local_server.server import main  # noqa: E402

status = main()
# main() has stopped the servers, unloaded the models and shut the pool down: skip the interpreter's own
# teardown of TensorFlow and gRPC, which takes 2-3 s more here (every stop in notebook 03 waited for it)
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
