"""What ``01_custom_layers`` runs in a fresh process: its exported model loaded where none of its classes exist.

The notebook defines its layers (``CustomDense`` ...) in the kernel, so a load in the kernel cannot show that a
SavedModel runs without them. This module is started by the notebook through :func:`helpers.procs.start`::

    python -m helpers.custom_layers --savedmodel DIR --keras FILE --inputs X.npy --names NAME ... --out R.json

It loads the SavedModel with ``tf.saved_model.load`` and runs its ``serve`` signature on the inputs, then
checks that the named classes (registered names such as ``workbook>CustomDense``) are not registered here,
and tries ``keras.saving.load_model`` on the ``.keras`` file, which needs them. Everything it found goes into
the JSON file. It exits 0 whatever the findings are (the notebook asserts on them), and non-zero only when it
could not look (a missing file, unreadable inputs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load_without_classes(savedmodel: str | Path, keras_file: str | Path, inputs: str | Path,
                         names: list[str]) -> dict:
    """Serve ``inputs`` (a ``.npy`` file) through the SavedModel at ``savedmodel`` in this process, and report:
    ``predictions`` (a list of rows), ``signatures``, ``registered`` (which of ``names`` Keras knows here) and
    ``keras_file_error`` (what ``keras.saving.load_model(keras_file)`` raised, or None)."""
    for path in (savedmodel, keras_file, inputs):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist")
    import numpy as np

    from helpers.runtime import import_tensorflow_quietly, quiet

    quiet()
    tf = import_tensorflow_quietly()
    rows = np.load(inputs)
    loaded = tf.saved_model.load(str(savedmodel))
    served = loaded.serve(tf.constant(rows)).numpy()

    import keras

    try:
        keras.saving.load_model(keras_file)
        keras_file_error = None
    except (TypeError, ValueError) as err:  # what Keras raises for a class it cannot locate
        keras_file_error = f"{type(err).__name__}: {err}"
    return {
        "predictions": served.tolist(),
        "signatures": sorted(loaded.signatures),
        "registered": [name for name in names if keras.saving.get_registered_object(name) is not None],
        "keras_file_error": keras_file_error,
    }


def main(argv: list[str] | None = None) -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.custom_layers", description=load_without_classes.__doc__)
    parser.add_argument("--savedmodel", required=True, help="folder written by model.export")
    parser.add_argument("--keras", required=True, help=".keras file written by model.save")
    parser.add_argument("--inputs", required=True, help=".npy file of input rows")
    parser.add_argument("--names", nargs="*", default=[], help="registered names (package>Class) to look up")
    parser.add_argument("--out", required=True, help="JSON file for the result")
    args = parser.parse_args(argv)
    found = load_without_classes(args.savedmodel, args.keras, args.inputs, args.names)
    Path(args.out).write_text(json.dumps(found))


if __name__ == "__main__":
    main()
