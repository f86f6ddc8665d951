"""``python -m helpers.serving --flag=value ...``: the local, protocol-compatible tensorflow_model_server."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from helpers.serving.local_server.server import main  # noqa: E402

sys.exit(main())
