"""TensorProto <-> ndarray, as TensorFlow Serving reads requests and writes replies.

A request's TensorProto is read as ``Tensor::FromProto`` does (``tensor_content`` or the typed fields such
as ``float_val``, a single value filling the whole shape). A reply is written as ``Tensor::AsProtoField``
does, into the typed fields (``float_val``, ``int64_val``, ``string_val``...), which is what the real server
sends unless ``--enable_serialization_as_tensor_content`` asks for ``Tensor::AsProtoTensorContent``
(the packed ``tensor_content`` bytes) (predict_util.cc PostProcessPredictionResult).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_shape_pb2

# numpy dtype -> (DataType enum, typed field of TensorProto that Tensor::AsProtoField fills)
_FIELDS = {
    np.dtype(np.float32): (tf.float32.as_datatype_enum, "float_val"),
    np.dtype(np.float64): (tf.float64.as_datatype_enum, "double_val"),
    np.dtype(np.int32): (tf.int32.as_datatype_enum, "int_val"),
    np.dtype(np.int16): (tf.int16.as_datatype_enum, "int_val"),
    np.dtype(np.int8): (tf.int8.as_datatype_enum, "int_val"),
    np.dtype(np.uint8): (tf.uint8.as_datatype_enum, "int_val"),
    np.dtype(np.uint16): (tf.uint16.as_datatype_enum, "int_val"),
    np.dtype(np.int64): (tf.int64.as_datatype_enum, "int64_val"),
    np.dtype(np.uint32): (tf.uint32.as_datatype_enum, "uint32_val"),
    np.dtype(np.uint64): (tf.uint64.as_datatype_enum, "uint64_val"),
    np.dtype(np.bool_): (tf.bool.as_datatype_enum, "bool_val"),
}
_PACKED = {enum: dtype for dtype, (enum, _) in _FIELDS.items()}


def to_ndarray(proto) -> np.ndarray:
    """A request's TensorProto as an ndarray. The two common encodings (numeric ``tensor_content`` and a
    full ``float_val``) are read directly, which keeps the per-request cost low; anything else goes through
    ``tf.make_ndarray``. Raises on a TensorProto that does not parse."""
    shape = [d.size for d in proto.tensor_shape.dim]
    dtype = _PACKED.get(proto.dtype)
    if dtype is not None and proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    if proto.dtype == tf.float32.as_datatype_enum and len(proto.float_val) == int(np.prod(shape)) > 1:
        return np.array(proto.float_val, dtype=np.float32).reshape(shape)
    return tf.make_ndarray(proto)


def _set_shape(proto, shape) -> None:
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape)


def fill_tensor_proto(proto, value, as_content: bool = False) -> None:
    """Write ``value`` into the reply's ``proto``: typed fields (``Tensor::AsProtoField``, the real server's
    default) or, with ``as_content``, numeric values as packed ``tensor_content``. Strings always go to
    ``string_val``."""
    value = np.asarray(value)
    known = _FIELDS.get(value.dtype)
    if value.dtype == np.float16 and not as_content:  # half_val holds the 16-bit patterns
        proto.dtype = tf.float16.as_datatype_enum
        _set_shape(proto, value.shape)
        proto.half_val.extend(value.view(np.uint16).ravel().tolist())
        return
    if known is None:  # strings, complex...: TensorFlow's own conversion (typed fields for strings)
        proto.CopyFrom(tf.make_tensor_proto(value))
        return
    enum, field = known
    proto.dtype = enum
    _set_shape(proto, value.shape)
    if as_content:
        proto.tensor_content = value.tobytes()
    else:
        getattr(proto, field).extend(value.ravel().tolist())
