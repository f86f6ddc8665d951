"""Test models for the serving tests, generated at test time (nothing binary is committed), laid out as
TensorFlow Serving's own test models are (servables/tensorflow/testdata: ``half_plus_two/00000123``).

* :func:`half_plus_two_tf1`: ``y = 0.5 x + 2`` exported TF1-style (graph + ``SavedModelBuilder``), like
  TF Serving's ``saved_model_half_plus_two.py``: ``serving_default`` and ``regress_x_to_y`` (regress on
  serialized ``tf.Example`` with a float feature ``x``), ``classify_x_to_y`` (classify, scores only) and
  ``predict_x_to_y`` (predict, input ``x`` of unknown rank).
* :func:`half_plus_two_tf2`: the same function as TF2 ``tf.function`` signatures (all of method
  ``tensorflow/serving/predict``, as tf.saved_model.save writes them): ``serving_default`` (predict,
  ``x`` float [None]), ``classify`` (``inputs`` -> ``classes`` + ``scores``), ``regress`` (``inputs`` ->
  ``outputs``), ``scalar`` (a rank-0 input), ``any_rank`` (``tf.TensorSpec(None)``), ``echo_bytes``
  (string in, ``out_bytes`` out), ``two_outputs`` (``y`` and ``z``).
* :func:`broken_version`: a version folder whose ``saved_model.pb`` does not parse.
* :func:`write_warmup`: an ``assets.extra/tf_serving_warmup_requests`` file of PredictionLogs.

``python -m tests.support.serving_models DIR`` writes them all under DIR.
"""

from __future__ import annotations

import sys
from pathlib import Path


def half_plus_two_tf1(path: str | Path) -> Path:
    """A TF1-style SavedModel in ``path`` (the version folder itself)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    path = Path(path)
    with tf.Graph().as_default():
        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        features = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([1], tf.float32)})
        y = tf.add(tf.multiply(a, features["x"]), b, name="y")  # [batch, 1]
        x_raw = v1.placeholder(tf.float32, shape=None, name="x")  # unknown rank
        y_raw = tf.add(tf.multiply(a, x_raw), b, name="y_raw")
        sd = v1.saved_model.signature_def_utils
        regress = sd.regression_signature_def(serialized, y)
        signatures = {
            "serving_default": regress,
            "regress_x_to_y": regress,
            "classify_x_to_y": sd.classification_signature_def(serialized, None, y),
            "predict_x_to_y": sd.predict_signature_def({"x": x_raw}, {"y": y_raw}),
        }
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures)
            builder.save()
    return path


def half_plus_two_tf2(path: str | Path) -> Path:
    """The same model as TF2 ``tf.function`` signatures, in ``path`` (the version folder itself)."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self):
            super().__init__()
            self.a = tf.Variable(0.5)
            self.b = tf.Variable(2.0)

        def _x(self, inputs):
            parsed = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([1], tf.float32)})
            return parsed["x"]  # [batch, 1]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            y = self.a * self._x(inputs) + self.b
            scores = tf.concat([y, 1.0 - y], axis=1)  # [batch, 2]
            classes = tf.tile(tf.constant([["high", "low"]]), [tf.shape(y)[0], 1])
            return {"classes": classes, "scores": scores}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            return {"outputs": self.a * self._x(inputs)[:, 0] + self.b}

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32, name="x")])
        def scalar(self, x):
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec(None, tf.float32, name="x")])
        def any_rank(self, x):
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="data")])
        def echo_bytes(self, data):
            return {"out_bytes": data, "length": tf.strings.length(data)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def two_outputs(self, x):
            return {"y": self.a * x + self.b, "z": x * 2.0}

    module = HalfPlusTwo()
    signatures = {
        "serving_default": module.predict,
        "classify": module.classify,
        "regress": module.regress,
        "scalar": module.scalar,
        "any_rank": module.any_rank,
        "echo_bytes": module.echo_bytes,
        "two_outputs": module.two_outputs,
    }
    tf.saved_model.save(module, str(path), signatures=signatures)
    return Path(path)


def broken_version(path: str | Path) -> Path:
    """A version folder that cannot load (``saved_model.pb`` is not a SavedModel)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "saved_model.pb").write_bytes(b"\x0bthis is not a SavedModel")
    return path


def example(x: float):
    """A tf.Example with the float feature ``x``."""
    from tensorflow.core.example import example_pb2

    ex = example_pb2.Example()
    ex.features.feature["x"].float_list.value.append(x)
    return ex


def write_warmup(version_dir: str | Path, model_name: str, records: int = 3, broken: bool = False) -> Path:
    """``assets.extra/tf_serving_warmup_requests`` with ``records`` predict/regress PredictionLogs (or, with
    ``broken``, bytes that are not a PredictionLog)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, regression_pb2

    target = Path(version_dir) / "assets.extra" / "tf_serving_warmup_requests"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(target)) as writer:
        for i in range(records):
            if broken:
                writer.write(b"\xff\xff not a PredictionLog")
                continue
            log = prediction_log_pb2.PredictionLog()
            if i % 2 == 0:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = model_name
                request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0], np.float32)))
                log.predict_log.request.CopyFrom(request)
            else:
                request = regression_pb2.RegressionRequest()
                request.model_spec.name = model_name
                request.model_spec.signature_name = "regress"
                request.input.example_list.examples.add().CopyFrom(example(3.0))
                log.regress_log.request.CopyFrom(request)
            writer.write(log.SerializeToString())
    return target


def write_all(root: str | Path) -> dict[str, Path]:
    """Every test model under ``root``: ``tf1/00000123``, ``tf2/0001`` and ``tf2/0002``, ``broken/1``."""
    root = Path(root)
    paths = {
        "tf1": half_plus_two_tf1(root / "tf1" / "00000123").parent,
        "tf2": half_plus_two_tf2(root / "tf2" / "0001").parent,
        "broken": broken_version(root / "broken" / "1").parent,
    }
    return paths


if __name__ == "__main__":
    print(write_all(sys.argv[1] if len(sys.argv) > 1 else "serving_test_models"))
