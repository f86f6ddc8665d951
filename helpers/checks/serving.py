"""Checks of the serving exercises (``03_serving``) and the small lab they run in.

:class:`ServingLab` (made by the first cell of the notebook's Exercises section) builds what the exercises
need without the lesson's earlier sections: a small iris classifier (Keras) with its training mean and std,
eight-by-eight digit images, a SavedModel ``digits_png`` whose signature takes PNG bytes, and ONE model
server (``tensorflow_model_server`` when on PATH, else ``python -m helpers.serving``, both started by
:func:`helpers.serving.client.launch`), launched in the background with ``digits_png``. The checks add the
learner's export to that server with ModelService's ``HandleReloadConfigRequest`` (gRPC) and query it over
REST, as any client of the real server would; ``lab.stop()`` stops the server (helpers.procs also does at
exit).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from helpers.checks import (
    ExerciseError,
    check,
    check_callable,
    check_subclass,
    error_line,
    essential_line,
    fuller_hint,
    raised_by_learner,
)
from helpers.serving import client as sc
from helpers.serving.client import rest_url

PNG_MODEL = "digits_png"  # the lab's model that takes PNG bytes
CSV_VERSION = 5  # the version number the CSV check exports
MISSING = ((1, 1), (3, 3))  # (line, field) left empty in the CSV lines of exercise 2
METRICS_PATH = "/monitoring/prometheus/metrics"
_LAB: ServingLab | None = None  # the newest lab: a new one stops the server of the one before


def check_labelled_predict(labelled_predict: Any) -> None:
    """Exercise 1: the REST URL and body of a predict request to a labelled version."""
    check_callable(labelled_predict, [
        (("127.0.0.1:8501", "my_model", "canary", [[0.0, 1.0]]),
         (rest_url("127.0.0.1:8501", "my_model", label="canary", verb="predict"), {"instances": [[0.0, 1.0]]})),
        (("localhost:9000", "digits", "stable", [[1.0], [2.0]]),
         ("http://localhost:9000/v1/models/digits/labels/stable:predict", {"instances": [[1.0], [2.0]]})),
    ], hint="build the URL from host, model and label; put the rows under 'instances'")


# ------------------------------------------------------------------------------------------- the lab
def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _centroid_classifier(x: np.ndarray, y: np.ndarray, classes: int, scale: float):
    """Weights and bias of a nearest-class-mean classifier as one dense layer (no training: instant and the
    same on every machine): logit_c = scale * (x . m_c - |m_c|^2 / 2)."""
    means = np.stack([x[y == c].mean(axis=0) for c in range(classes)])
    weights = (scale * means.T).astype("float32")
    bias = (-scale * 0.5 * (means**2).sum(axis=1)).astype("float32")
    return weights, bias


def _png_module(weights: np.ndarray, bias: np.ndarray):
    """A tf.Module: PNG bytes -> pixels / 255 -> softmax(pixels @ weights + bias), and the top digit."""
    import tensorflow as tf

    class PngDigits(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights, self.bias = tf.constant(weights), tf.constant(bias)
            self.names = tf.constant([str(d) for d in range(len(bias))])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
        def serve(self, image):
            def pixels(png):
                return tf.reshape(tf.cast(tf.io.decode_png(png, channels=1), tf.float32) / 255.0, [-1])

            x = tf.map_fn(pixels, image, fn_output_signature=tf.TensorSpec([None], tf.float32))
            probabilities = tf.nn.softmax(tf.matmul(x, self.weights) + self.bias)
            return {"digit": tf.gather(self.names, tf.argmax(probabilities, axis=1)), "probabilities": probabilities}

    return PngDigits()


def _config_text(models: dict[str, Path]) -> str:
    entries = "".join(
        f'  config {{\n    name: "{name}"\n    base_path: "{path}"\n    model_platform: "tensorflow"\n  }}\n'
        for name, path in models.items()
    )
    return f"model_config_list {{\n{entries}}}\n"


class ServingLab:
    """The exercises' models and their model server (see the module docstring).

    ``iris_model`` (Keras, 4 standardised features -> 3 class probabilities), ``iris_mean`` / ``iris_std``
    (float32, shape [4], from the training rows), ``csv_lines`` (test rows as CSV text, two with an empty
    field), ``images`` (uint8 [5, 8, 8] digits), ``rest`` (``127.0.0.1:<port>`` of the server)."""

    def __init__(self, workdir: str | Path, server: str = "auto", seed: int = 0):
        import keras
        import tensorflow as tf
        from sklearn.datasets import load_iris
        from sklearn.model_selection import train_test_split

        from helpers.data import load_digits

        global _LAB
        if _LAB is not None:  # the cell ran again: one lab server at a time
            _LAB.stop()
        Path(workdir).mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="exercises-", dir=workdir))
        iris = load_iris()
        x_train, x_test, y_train, _ = train_test_split(
            iris.data.astype("float32"), iris.target, test_size=0.2, random_state=seed, stratify=iris.target)
        self.iris_mean, self.iris_std = x_train.mean(axis=0), x_train.std(axis=0)
        iris_w, iris_b = _centroid_classifier((x_train - self.iris_mean) / self.iris_std, y_train, 3, scale=2.0)
        self.iris_model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3, activation="softmax")], name="iris")
        self.iris_model.layers[0].set_weights([iris_w, iris_b])
        self.iris_rows = x_test[:6].copy()
        fields = [[f"{v:g}" for v in row] for row in self.iris_rows]
        for line, field in MISSING:
            fields[line][field] = ""
            self.iris_rows[line, field] = self.iris_mean[field]  # what an empty field stands for
        self.csv_lines = [",".join(f) for f in fields]
        digits = load_digits(seed)
        self.images = np.round(digits.x_test[:5].reshape(-1, 8, 8) * 255).astype("uint8")
        self._png_w, self._png_b = _centroid_classifier(digits.x_train, digits.y_train, 10, scale=4.0)
        png_base = self.workdir / "models" / PNG_MODEL
        tf.saved_model.save(_png_module(self._png_w, self._png_b), str(png_base / "1"))
        self.models = {PNG_MODEL: png_base}
        config, monitoring = self.workdir / "models.config", self.workdir / "monitoring.config"
        config.write_text(_config_text(self.models))
        monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
        self.attempts = 0
        self._ready = False
        self.server = sc.launch(self.workdir, server=server, model_config_file=str(config),
                                monitoring_config_file=str(monitoring), max_num_load_retries=0)
        _LAB = self

    def __repr__(self) -> str:
        return (f"ServingLab({self.server.kind} on {self.rest}: {sorted(self.models)}; "
                f"{len(self.csv_lines)} CSV lines, {len(self.images)} images)")

    @property
    def rest(self) -> str:
        """``127.0.0.1:<REST port>`` of the lab's server."""
        return self.server.rest

    def ready(self) -> ServingLab:
        """Wait (once) until the server serves ``digits_png``."""
        if not self._ready:
            self.server.wait_ready()
            self._ready = True
        return self

    def iris_expected(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The iris model's probabilities for ``rows`` (default: the CSV lines, empty fields as the mean)."""
        rows = self.iris_rows if rows is None else rows
        return np.asarray(self.iris_model((rows - self.iris_mean) / self.iris_std))

    def png_expected(self, images: np.ndarray) -> tuple[list[str], np.ndarray]:
        """``(digits, probabilities)`` of ``digits_png`` for uint8 images, computed here without PNG."""
        x = images.reshape(len(images), -1).astype("float32") / 255.0
        probabilities = _softmax(x @ self._png_w + self._png_b)
        return [str(d) for d in probabilities.argmax(axis=1)], probabilities

    def add_model(self, name: str, base_path: Path) -> str | None:
        """Serve ``name`` from ``base_path`` as well (ReloadConfig with every model so far); the server's error
        message, or None once it is AVAILABLE."""
        from google.protobuf import text_format
        from tensorflow_serving.apis import model_management_pb2

        self.ready()
        models = {**self.models, name: Path(base_path)}  # the lab's own models and the newest export
        request = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(_config_text(models), request.config)
        channel, _, model_service = sc.grpc_stubs(self.server.grpc_target)
        with channel:
            reply = model_service.HandleReloadConfigRequest(request, timeout=120)
        return reply.status.error_message if reply.status.error_code else None

    def request_count(self, model: str, status: str = "OK") -> float:
        """``:tensorflow:serving:request_count`` of ``model`` with ``status`` on the Prometheus page."""
        import requests

        page = requests.get(f"http://{self.rest}{METRICS_PATH}", timeout=10).text
        pattern = re.compile(r':tensorflow:serving:request_count\{(.*)\} (\S+)$')
        total = 0.0
        for line in page.splitlines():
            match = pattern.match(line)
            if match and f'model_name="{model}"' in match[1] and f'status="{status}"' in match[1]:
                total += float(match[2])
        return total

    def stop(self) -> int | None:
        """Stop the lab's server; returns its exit code."""
        return self.server.stop()


# ------------------------------------------------------------------------------------------- helpers
def _fail(hint: str) -> ExerciseError:
    return ExerciseError(f"Not yet. Hint: {hint}")


def _server_said(response: Any) -> str:
    """The ``error`` of a TF Serving JSON error reply, essential line only."""
    if response is None:
        return "nothing"
    try:
        return repr(essential_line(json.loads(response.text)["error"]))
    except (ValueError, KeyError, TypeError):
        return repr(response.text.strip()[:240])


def _probabilities(got: Any, n: int, what: str) -> np.ndarray:
    check(isinstance(got, dict) and "probabilities" in got,
          f"{what} must return a dict with the key 'probabilities' (the signature's output name), got "
          f"{type(got).__name__}{sorted(got) if isinstance(got, dict) else ''}")
    values = np.asarray(got["probabilities"], dtype="float64")
    check(values.shape == (n, 3), f"{what}['probabilities'] must have shape ({n}, 3), got {values.shape}")
    return values


# ------------------------------------------------------------------------------------------- exercise 2
def _unrestored_variables(folder: Path) -> list[str]:
    """The variables the SavedModel's signatures read that stay uninitialized once it is loaded into a TensorFlow
    1 session as TF Serving loads it (restore op, init op): TF Serving fails every request that reads them."""
    from helpers.serving.local_server.session import SavedModelSession

    return SavedModelSession(folder, ("serve",)).unrestored


@fuller_hint(
    "serve: tf.io.decode_csv turns the batch of lines into one tensor per column; its record_defaults hold, per "
    "column, the value an empty field takes (here that column's training mean, as a one-element list). Stack the "
    "columns into [n, 4], standardise with the constants kept in __init__, call the model and return a dict keyed "
    "by the output name. export_scorer: the version folder is the sub-folder of base_path named by the number; "
    "keras.export.ExportArchive(): track(scorer.model), add_endpoint('serving_default', scorer.serve), then "
    "write_out(folder).")
def check_csv_scorer(lab: ServingLab, scorer_class: Any, export_scorer: Any) -> None:
    """Exercise 2: a ``tf.Module`` whose ``serve`` signature parses CSV lines (empty field = training mean),
    standardises and calls the model, and ``export_scorer`` saving it as ``<base>/<version>/``; checked in
    process against the model, then served by the lab's server and queried over REST."""
    import requests
    import tensorflow as tf

    check_subclass(scorer_class, tf.Module, "write class IrisCsvScorer(tf.Module)")
    check(callable(export_scorer), "write export_scorer(scorer, base_path, version)")
    with raised_by_learner(lambda raised: _fail(f"IrisCsvScorer(model, mean, std) raised {raised}")):
        scorer = scorer_class(lab.iris_model, lab.iris_mean, lab.iris_std)
    spec = getattr(getattr(scorer, "serve", None), "input_signature", None)
    check(spec is not None and len(spec) == 1,
          "decorate serve with @tf.function(input_signature=[...]) holding one tf.TensorSpec: a signature the "
          "server can call needs a fixed input dtype and shape")
    shape = spec[0].shape
    check(spec[0].dtype == tf.string and shape.rank == 1 and shape[0] is None,
          f"serve's input must be a batch of strings of any length, TensorSpec([None], tf.string), got {spec[0]}")
    complete = [i for i in range(len(lab.csv_lines)) if i not in {line for line, _ in MISSING}]
    expected = lab.iris_expected()
    with raised_by_learner(lambda raised: _fail(f"serve raised {raised} on complete lines such as "
                                                f"{lab.csv_lines[0]!r}")):
        got = scorer.serve(tf.constant([lab.csv_lines[i] for i in complete]))
    probs = _probabilities(got, len(complete), "serve")
    check(np.allclose(probs, expected[complete], rtol=1e-5, atol=1e-6),
          "on complete lines serve differs from the model on (x - mean) / std: parse all 4 fields as float32, "
          "standardise with the mean and std given to __init__, then call the model")
    missing = ", ".join(repr(lab.csv_lines[line]) for line, _ in MISSING)
    with raised_by_learner(lambda raised: _fail(
            f"serve raised {raised} on lines with an empty field ({missing}): an empty field must become that "
            "feature's training mean (record_defaults of tf.io.decode_csv)")):
        got = scorer.serve(tf.constant(lab.csv_lines))
    probs = _probabilities(got, len(lab.csv_lines), "serve")
    check(np.allclose(probs, expected, rtol=1e-5, atol=1e-6),
          f"on lines with an empty field ({missing}) serve differs from the model: an empty field must become "
          "that feature's training mean (0 once standardised)")

    lab.attempts += 1
    name = f"iris_csv_{lab.attempts}"
    base = lab.workdir / "models" / name
    call = f"export_scorer(scorer, {str(base)!r}, {CSV_VERSION})"
    with raised_by_learner(lambda raised: _fail(f"{call} raised {raised}")):
        path = export_scorer(scorer, str(base), CSV_VERSION)
    folder = base / str(CSV_VERSION)
    check((folder / "saved_model.pb").is_file(),
          f"export_scorer(scorer, base_path, {CSV_VERSION}) must write the SavedModel into <base_path>/"
          f"{CSV_VERSION}/ (the server reads only numbered sub-folders); {folder} has no saved_model.pb "
          f"(found {sorted(p.name for p in base.iterdir()) if base.is_dir() else 'no base_path folder'})")
    check(path is not None and Path(path).resolve() == folder.resolve(),
          f"export_scorer must return the version folder {folder}, got {path!r}")
    unrestored = _unrestored_variables(folder)
    check(not unrestored,
          f"in a TensorFlow 1 session, as TF Serving loads it, the export leaves the variables {unrestored[:4]} "
          "uninitialized: tensorflow_model_server would answer every request with FAILED_PRECONDITION 'Could not "
          "find variable' (keras-team/keras#20095). tf.saved_model.save on a tf.Module that holds a Keras 3 model "
          "does that; export with keras.export.ExportArchive: add_endpoint('serving_default', scorer.serve), then "
          "write_out(path)")
    error = lab.add_model(name, base)
    check(error is None, f"the model server could not load {folder}: {error}")
    reply = requests.get(rest_url(lab.rest, name, verb="metadata"), timeout=30)
    check(reply.status_code == 200, f"the metadata of {name} failed ({reply.status_code}): {_server_said(reply)}")
    signatures = reply.json()["metadata"]["signature_def"]["signature_def"]
    check("serving_default" in signatures,
          f"the SavedModel has the signatures {sorted(signatures)}: export scorer.serve as 'serving_default'")
    inputs, outputs = (sorted(signatures["serving_default"][k]) for k in ("inputs", "outputs"))
    check(inputs == ["lines"] and outputs == ["probabilities"],
          f"serving_default takes {inputs} and returns {outputs}: name the input 'lines' (the TensorSpec's name) "
          "and return a dict with the key 'probabilities'")
    reply = requests.post(rest_url(lab.rest, name, verb="predict"), json={"instances": lab.csv_lines}, timeout=30)
    check(reply.status_code == 200, f"the server answered {reply.status_code}: {_server_said(reply)}")
    served = np.asarray(reply.json()["predictions"], dtype="float64")
    check(served.shape == expected.shape and np.allclose(served, expected, rtol=1e-5, atol=1e-6),
          "the served predictions differ from the in-process call: export the scorer you were given, with "
          "scorer.serve as the signature")
    print(f"Correct: {lab.server.kind} serves {name} version {CSV_VERSION} from {folder}; REST predict on "
          f"{len(lab.csv_lines)} CSV lines ({len(MISSING)} with an empty field) equals the in-process call.")


# ------------------------------------------------------------------------------------------- exercise 3
def _is_top(digit: str, probabilities: np.ndarray) -> bool:
    """``digit`` names a class whose probability is the highest (a near tie, within 1e-5, counts as top)."""
    return digit.isdigit() and int(digit) < len(probabilities) and \
        probabilities[int(digit)] >= probabilities.max() - 1e-5


@fuller_hint(
    "Per image: add a channel axis so that tf.io.encode_png accepts it ([8, 8, 1]), take the PNG bytes out of the "
    "tensor, base64-encode them and make the result a str; an instance is then an object whose only key is 'b64'. "
    "Send ONE POST whose 'instances' list holds every image. The reply's 'predictions' has one dict per image, "
    "with the keys 'digit' and 'probabilities'.")
def check_png_client(lab: ServingLab, predict_pngs: Any) -> None:
    """Exercise 3: a REST client sending images as base64 PNG in one predict request and decoding the reply
    (two named outputs: one dict per instance); checked against the lab's ``digits_png`` and its request
    count."""
    import requests

    check(callable(predict_pngs), "write predict_pngs(host, model, images)")
    lab.ready()
    images = lab.images.copy()
    want_digits, want_probs = lab.png_expected(images)
    before = lab.request_count(PNG_MODEL)
    with raised_by_learner(lambda raised: _fail(f"predict_pngs raised {raised}. Encode each [8, 8] uint8 image as "
                                                "PNG, send {'b64': <base64 text>} per image and read 'predictions'")):
        try:
            got = predict_pngs(lab.rest, PNG_MODEL, images)
        except requests.HTTPError as err:
            raise _fail(f"predict_pngs raised {error_line(err)}; the server said {_server_said(err.response)}. "
                        "Binary data goes as "
                        "{'b64': <base64 text of the PNG bytes>}, one per image, under 'instances'") from None
    sent = lab.request_count(PNG_MODEL) - before
    check(isinstance(got, tuple) and len(got) == 2,
          f"return a tuple (digits, probabilities), got {type(got).__name__}")
    digits, probs = got
    try:
        probs = np.asarray(probs, dtype="float64")
    except (TypeError, ValueError):
        raise _fail("probabilities must be numbers: each prediction is a dict, take its 'probabilities'") from None
    check(probs.shape == want_probs.shape,
          f"probabilities must have shape {want_probs.shape} (images x classes), got {probs.shape}")
    check(np.allclose(probs, want_probs, rtol=1e-4, atol=1e-6),
          "the probabilities differ from the model's: send the images unchanged (uint8, one PNG each, in order)")
    check(isinstance(digits, list | tuple | np.ndarray) and len(digits) == len(images)
          and all(_is_top(str(d), p) for d, p in zip(digits, want_probs, strict=True)),
          f"digits must be the {len(images)} 'digit' outputs {want_digits}, got {digits!r}")
    check(sent == 1, f"the server counted {sent:.0f} requests for {len(images)} images: send them all in one "
                     "request (one 'instances' list), which the model runs as one batch")
    print(f"Correct: one REST request with {len(images)} base64 PNGs; digits {want_digits} and probabilities "
          f"equal the model's.")
