"""Models laid out and exported as TensorFlow Serving's own test data (servables/tensorflow/testdata of
tensorflow/serving, TF Serving 2.21), written here with TensorFlow 2.21 from a description of how those were
built (``saved_model_half_plus_two.py``, ``export_half_plus_three``-style TF1 exports, its integration test);
nothing binary is committed. Each model sits in ``<root>/<name>/00000123/``, the version the docs print.

* ``saved_model_half_plus_two_cpu``: TF1 graph mode. ``x`` is the parsed ``tf.Example`` feature, static
  shape ``[?,1]``; ``serving_default`` predicts ``y = 0.5 x + 2`` and is fed ``[3]`` by the docs' request.
  ``regress_x_to_y``, ``regress_x_to_y2`` (``+ 3``), ``classify_x_to_y`` (scores only) read serialized
  ``tf.Example``s.
* ``saved_model_half_plus_three``: an older TF1 export whose SignatureDefs carry no shapes (rank 0 as
  TensorFlow 2 reads them); ``serving_default`` and ``tensorflow/serving/regress`` compute ``0.5 x + 3``;
  ``assets.extra/tf_serving_warmup_requests`` holds a predict and a regress record.
* ``saved_model_half_plus_two_tf2_cpu``: TF2 ``tf.function`` signatures (all of method predict): predict on
  ``x`` of shape ``[1]``, ``regress_x_to_y`` and ``classify_x_to_y`` on serialized examples.
* ``tf_saved_model_save``: the integration test's ``y = 3 * 2 * x`` with ``TensorSpec(None)``.
* ``saved_model_half_plus_two_tflite``: a TensorFlow Lite flatbuffer without SignatureDefs (tensors ``x``
  and ``y`` of shape ``[1,1]``); ``..._tflite_with_sigdef``: input tensor ``tflite_input``, with the
  SignatureDef ``{x: tflite_input:0} -> {y: y:0}`` stored in the model's ``signature_defs_metadata``.
* ``mnist``: serving_basic.md's export, on 8x8 digits: ``predict_images`` (``images`` -> ``scores``) and a
  ``serving_default`` classification signature whose classes come from a lookup table (``main_op``).

``python -m tests.support.tf_serving_testdata DIR`` writes them all under DIR.
"""

from __future__ import annotations

import sys
from pathlib import Path

VERSION = "00000123"


def _feature_spec(v1):
    return {
        "x": v1.io.FixedLenFeature([1], v1.float32),
        "x2": v1.io.FixedLenFeature([1], v1.float32, default_value=[0.0]),
    }


def _info(v1, tensor, shapeless: bool = False):
    info = v1.saved_model.utils.build_tensor_info(tensor)
    if shapeless:  # old exports recorded no shape: TensorFlow 2 reads that as rank 0
        info.tensor_shape.Clear()
    return info


def _signature(v1, inputs: dict, outputs: dict, method: str, shapeless: bool = False):
    return v1.saved_model.signature_def_utils.build_signature_def(
        {k: _info(v1, t, shapeless) for k, t in inputs.items()},
        {k: _info(v1, t, shapeless) for k, t in outputs.items()},
        method,
    )


def _save_session(v1, sess, path: Path, signatures: dict, main_op=None) -> None:
    builder = v1.saved_model.Builder(str(path))
    builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures, main_op=main_op)
    builder.save()


def half_plus_two_cpu(path: Path) -> Path:
    """TF1 graph-mode half_plus_two with its regress, classify and predict signatures."""
    import tensorflow as tf

    v1 = tf.compat.v1
    consts = v1.saved_model.signature_constants
    with tf.Graph().as_default(), v1.Session() as sess:
        a, b, c = (v1.Variable(value, name=name) for value, name in ((0.5, "a"), (2.0, "b"), (3.0, "c")))
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        parsed = v1.io.parse_example(serialized, _feature_spec(v1))
        x = tf.identity(parsed["x"], name="x")  # [?, 1]
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        sess.run(v1.global_variables_initializer())
        _save_session(v1, sess, path, {
            "regress_x_to_y": _signature(v1, {"inputs": serialized}, {"outputs": y}, consts.REGRESS_METHOD_NAME),
            "regress_x_to_y2": _signature(v1, {"inputs": serialized}, {"outputs": y2}, consts.REGRESS_METHOD_NAME),
            "classify_x_to_y": _signature(v1, {"inputs": serialized}, {"scores": y}, consts.CLASSIFY_METHOD_NAME),
            "serving_default": _signature(v1, {"x": x}, {"y": y}, consts.PREDICT_METHOD_NAME),
        })
    return path


def half_plus_three(path: Path) -> Path:
    """An older TF1 export (SignatureDefs without shapes) of ``0.5 x + 3``, with warm-up records."""
    import tensorflow as tf

    v1 = tf.compat.v1
    consts = v1.saved_model.signature_constants
    with tf.Graph().as_default(), v1.Session() as sess:
        a, b = v1.Variable(0.5, name="a"), v1.Variable(3.0, name="b")
        serialized = v1.placeholder(tf.string, name="tf_example")
        x = tf.identity(v1.io.parse_example(serialized, _feature_spec(v1))["x"], name="x")
        y = tf.identity(a * x + b, name="y")
        sess.run(v1.global_variables_initializer())
        _save_session(v1, sess, path, {
            "serving_default": _signature(v1, {"x": x}, {"y": y}, consts.PREDICT_METHOD_NAME, shapeless=True),
            "tensorflow/serving/regress": _signature(
                v1, {"inputs": serialized}, {"outputs": tf.identity(y)}, consts.REGRESS_METHOD_NAME, shapeless=True
            ),
        })
    write_warmup(path)
    return path


def example(**features: float):
    """A tf.Example with float features."""
    from tensorflow.core.example import example_pb2

    result = example_pb2.Example()
    for name, value in features.items():
        result.features.feature[name].float_list.value.append(value)
    return result


def write_warmup(path: Path) -> Path:
    """``assets.extra/tf_serving_warmup_requests``: one predict and one regress PredictionLog."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    target = path / "assets.extra" / "tf_serving_warmup_requests"
    target.parent.mkdir(parents=True, exist_ok=True)
    predict, regress = prediction_log_pb2.PredictionLog(), prediction_log_pb2.PredictionLog()
    predict.predict_log.request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    regress.regress_log.request.model_spec.signature_name = "tensorflow/serving/regress"
    regress.regress_log.request.input.example_list.examples.add().CopyFrom(example(x=1.0))
    with tf.io.TFRecordWriter(str(target)) as writer:
        for record in (predict, regress):
            writer.write(record.SerializeToString())
    return target


def half_plus_two_tf2(path: Path) -> Path:
    """TF2 half_plus_two: tf.function signatures, as ``tf.saved_model.save`` writes them."""
    import tensorflow as tf

    class HalfPlusTwo(tf.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = tf.Variable(0.5), tf.Variable(2.0)

        def _parsed_x(self, serialized):
            return tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]

        @tf.function(input_signature=[tf.TensorSpec([1], tf.float32)])
        def predict(self, x):
            return {"y": self.a * x + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, serialized):
            return {"outputs": self.a * self._parsed_x(serialized) + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, serialized):
            return {"scores": self.a * self._parsed_x(serialized) + self.b}

    module = HalfPlusTwo()
    signatures = {"serving_default": module.predict, "regress_x_to_y": module.regress,
                  "classify_x_to_y": module.classify}
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


def tf_saved_model_save(path: Path) -> Path:
    """The integration test's tf.saved_model.save model: ``{"y": 3 * 2 * x}`` for any shape."""
    import tensorflow as tf

    root = tf.train.Checkpoint()
    root.v1, root.v2 = tf.Variable(3.0), tf.Variable(2.0)
    root.f = tf.function(lambda x: {"y": root.v1 * root.v2 * x})
    tf.saved_model.save(root, str(path), root.f.get_concrete_function(tf.TensorSpec(None, tf.float32)))
    return path


def _tflite_half_plus_two(input_name: str) -> tuple[bytes, object]:
    """The TF1 half_plus_two graph cut at ``x`` (static shape [1,1]) as a TensorFlow Lite flatbuffer, and
    the predict SignatureDef ``{x} -> {y}`` of the graph."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as sess:
        a, b = v1.Variable(0.5, name="a"), v1.Variable(2.0, name="b")
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        x = tf.ensure_shape(v1.io.parse_example(serialized, _feature_spec(v1))["x"], (1, 1), name=input_name)
        y = tf.identity(a * x + b, name="y")
        sess.run(v1.global_variables_initializer())
        model = v1.lite.TFLiteConverter.from_session(sess, [x], [y]).convert()
        signature = _signature(v1, {"x": x}, {"y": y}, v1.saved_model.signature_constants.PREDICT_METHOD_NAME)
    return model, signature


class _RawString(str):
    """A FlexBuffer string whose bytes are a serialized proto (flexbuffers.Builder.String encodes str)."""

    def __new__(cls, data: bytes):
        obj = super().__new__(cls, "")
        obj.data = data
        return obj

    def encode(self, *_args, **_kwargs) -> bytes:
        return self.data


def with_signature_defs(model: bytes, signatures: dict) -> bytes:
    """``model`` with ``signatures`` stored as TensorFlow Lite's signature_def_utils stores them: a metadata
    entry ``signature_defs_metadata`` whose buffer is a FlexBuffer map of serialized SignatureDefs."""
    from flatbuffers import flexbuffers
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    builder = flexbuffers.Builder()
    with builder.Map():
        for key, signature in signatures.items():
            builder.String(key, _RawString(signature.SerializeToString()))
    unpacked = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = list(builder.Finish())
    unpacked.buffers.append(buffer)
    metadata = schema.MetadataT()
    metadata.name, metadata.buffer = "signature_defs_metadata", len(unpacked.buffers) - 1
    unpacked.metadata = [*(unpacked.metadata or []), metadata]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(unpacked))


def half_plus_two_tflite(path: Path, with_sigdef: bool = False) -> Path:
    """``model.tflite`` of half_plus_two, without or with stored SignatureDefs."""
    model, signature = _tflite_half_plus_two("tflite_input" if with_sigdef else "x")
    if with_sigdef:
        model = with_signature_defs(model, {"serving_default": signature})
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.tflite").write_bytes(model)
    return path


def mnist_like(path: Path, seed: int = 0) -> Path:
    """serving_basic.md's mnist_saved_model.py export on 8x8 digits (64 features), fitted in closed form
    (class means) instead of trained: ``predict_images`` and a classification ``serving_default``."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    v1 = tf.compat.v1
    consts = v1.saved_model.signature_constants
    digits = load_digits()
    x_all, labels = digits.data.astype("float32") / 16.0, digits.target
    means = np.stack([x_all[labels == k].mean(axis=0) for k in range(10)])
    with tf.Graph().as_default(), v1.Session() as sess:
        serialized = v1.placeholder(tf.string, name="tf_example")
        x = tf.identity(v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([64], tf.float32)})["x"],
                        name="x")
        w = v1.Variable(10.0 * means.T.astype("float32"))
        b = v1.Variable(-5.0 * (means**2).sum(axis=1).astype("float32"))
        y = tf.nn.softmax(tf.matmul(x, w) + b, name="y")
        values, indices = tf.nn.top_k(y, 10)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.range(10, dtype=tf.int64), tf.constant([str(i) for i in range(10)])),
            default_value="",
        )
        classes = table.lookup(tf.cast(indices, tf.int64))
        sess.run(v1.global_variables_initializer())
        _save_session(v1, sess, path, {
            "predict_images": _signature(v1, {"images": x}, {"scores": y}, consts.PREDICT_METHOD_NAME),
            "serving_default": _signature(
                v1, {"inputs": serialized}, {"classes": classes, "scores": values}, consts.CLASSIFY_METHOD_NAME
            ),
        }, main_op=v1.tables_initializer())
    return path


BUILDERS = {
    "saved_model_half_plus_two_cpu": half_plus_two_cpu,
    "saved_model_half_plus_three": half_plus_three,
    "saved_model_half_plus_two_tf2_cpu": half_plus_two_tf2,
    "tf_saved_model_save": tf_saved_model_save,
    "saved_model_half_plus_two_tflite": half_plus_two_tflite,
    "saved_model_half_plus_two_tflite_with_sigdef": lambda path: half_plus_two_tflite(path, with_sigdef=True),
    "mnist": mnist_like,
}


def write_all(root: str | Path, names=None) -> dict[str, Path]:
    """Every model (or those in ``names``) as ``root/<name>/00000123``; returns ``{name: base path}``."""
    root = Path(root)
    paths = {}
    for name, build in BUILDERS.items():
        if names is None or name in names:
            build(root / name / VERSION)
            paths[name] = root / name
    return paths


if __name__ == "__main__":
    print(write_all(sys.argv[1] if len(sys.argv) > 1 else "tf_serving_testdata"))
