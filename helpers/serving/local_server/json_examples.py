"""REST ``:classify`` and ``:regress`` bodies (api_rest.md "Classify and Regress API";
util/json_tensor.cc FillClassifyRegressRequestFromJson, MakeJsonFromClassificationResult and
MakeJsonFromRegressionResult), with their error texts.

Request: ``{"signature_name": s, "context": {feature: value}, "examples": [{feature: value}, ...]}``; a
feature value is a scalar or a flat list of ints (int64_list), floats (float_list, JSON numbers written
with ``.`` or ``e``), strings or ``{"b64": ...}`` (bytes_list); booleans are int64 1/0.
Response key is ``results`` (api_rest.md's text says "result"; the server and its tests write "results").
"""

from __future__ import annotations

import base64
import binascii
import json

from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import input_pb2

from helpers.serving.local_server.json_tensor import _float, _pretty
from helpers.serving.local_server.status import invalid

_INT64 = (-(2**63), 2**63 - 1)


def _json_type(value) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def _element(name: str, value):
    """``(kind, python value)`` of one feature element."""
    if isinstance(value, bool):
        return "int64", int(value)
    if isinstance(value, int):
        if value > _INT64[1]:
            raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        return "int64", value
    if isinstance(value, float):
        return "float", value
    if isinstance(value, str):
        return "bytes", value.encode()
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str):
        try:
            return "bytes", base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid("Unable to base64 decode") from None
    raise invalid(f"Feature: {name} has element with unexpected JSON type: {_json_type(value)}")


def to_example(obj) -> example_pb2.Example:
    """One JSON object as a tf.Example (json_tensor.cc FillExampleFromJson)."""
    if not isinstance(obj, dict):
        raise invalid(f"Example must be JSON object but got JSON {_json_type(obj)}")
    example = example_pb2.Example()
    for name, value in obj.items():
        values = value if isinstance(value, list) else [value]
        kind, items = None, []
        for v in values:
            k, item = _element(name, v)
            if kind is not None and k != kind:
                raise invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")
            kind = k
            items.append(item)
        feature: feature_pb2.Feature = example.features.feature[name]
        if kind == "int64":
            feature.int64_list.value.extend(items)
        elif kind == "float":
            feature.float_list.value.extend(items)
        elif kind == "bytes":
            feature.bytes_list.value.extend(items)
    return example


def request_input(doc: dict) -> input_pb2.Input:
    """The Input of a classify/regress body (``examples`` and the optional ``context``)."""
    text = _pretty(doc)[:256]
    if "examples" not in doc:
        raise invalid(f"JSON Value: {text} When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {text} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {text} 'examples' value is an empty array")
    result = input_pb2.Input()
    if "context" in doc:
        target = result.example_list_with_context
        target.context.CopyFrom(to_example(doc["context"]))
    else:
        target = result.example_list
    for obj in examples:
        target.examples.add().CopyFrom(to_example(obj))
    return result


def classify_json(result) -> str:
    """``{"results": [[[label, score], ...], ...]}`` in the PrettyWriter layout of the real server."""
    rows = [
        "[" + ", ".join(f"[{json.dumps(c.label)}, {_float(c.score, 9)}]" for c in row.classes) + "]"
        for row in result.classifications
    ]
    if not rows:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    return '{\n    "results": [' + ",\n        ".join(rows) + "\n    ]\n}"


def regress_json(result) -> str:
    """``{"results": [v, ...]}``."""
    if not result.regressions:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    return '{\n    "results": [' + ", ".join(_float(r.value, 9) for r in result.regressions) + "]\n}"
