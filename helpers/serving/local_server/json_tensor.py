"""The REST API's JSON <-> tensor mapping (api_rest.md "Predict API" and "JSON mapping"), with the error
texts of tensorflow_serving/util/json_tensor.cc.

Request: ``{"signature_name": s, "instances": [...]}`` (row format: one entry per example, or one object
per example when there are several named inputs) or ``{"inputs": ...}`` (columnar: a value/list, or an
object of named inputs). Response: ``{"predictions": ...}`` for rows, ``{"outputs": ...}`` for columns;
float32 values are written as the C++ server writes them (6 significant digits, 9 when 6 do not
round-trip, ``.0`` on whole numbers, ``NaN``/``Infinity`` tokens).
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys

import numpy as np

from helpers.serving.local_server.status import invalid

# rapidjson/error/en.h texts for the parse errors Python's json module can tell apart.
_RAPIDJSON = [
    ("Expecting value", "Invalid value."),
    ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid control character", "Invalid encoding in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
    ("Extra data", "The document root must not be followed by other values."),
]


MAX_DEPTH = sys.getrecursionlimit()  # json.loads's limit on nested arrays/objects (RecursionError beyond)


def _pretty(value) -> str:
    """JSON text of a value, as JsonValueToString echoes it in error messages."""
    return json.dumps(value, indent=4)


def parse_request(body: bytes | str) -> dict:
    """Parse a request body into a JSON object (json_tensor.cc ParseJson); raise INVALID_ARGUMENT texts."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as err:  # rapidjson's kParseErrorStringInvalidEncoding text
        raise invalid(f"JSON Parse error: Invalid encoding in string. at offset: {err.start}") from None
    if not text.strip():
        return _raise("JSON Parse error: The document is empty")
    try:
        doc = json.loads(text)
    except RecursionError:  # Python's parser recurses; the real server's (iterative) one has no depth limit
        raise invalid(
            f"JSON Parse error: nested too deep (more than about {MAX_DEPTH} levels of arrays/objects)"
        ) from None
    except json.JSONDecodeError as err:
        reason = next((r for prefix, r in _RAPIDJSON if err.msg.startswith(prefix)), None)
        if reason is None and err.msg.startswith("Expecting ',' delimiter"):
            inside = _innermost_open(text[: err.pos])
            reason = f"Missing a comma or '{'}' if inside == '{' else ']'}' after an " + (
                "object member." if inside == "{" else "array element."
            )
        raise invalid(f"JSON Parse error: {reason or err.msg} at offset: {err.pos}") from None
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {_pretty(doc)} Is not object")
    doc = Document(doc)
    # NumPy would turn true/false into 1/0 silently; the checked path rejects them for numeric inputs.
    doc.fast = _BOOL_TOKEN.search(text) is None
    return doc


class Document(dict):
    """A parsed request body; ``fast`` is False when it holds true/false, which need the checked path."""

    fast = True


_BOOL_TOKEN = re.compile(r"\b(?:true|false)\b")


def _raise(message: str):
    raise invalid(message)


def _innermost_open(prefix: str) -> str:
    """The bracket ('{' or '[') still open at the end of ``prefix`` (ignoring strings)."""
    stack = []
    for token in re.sub(r'"(?:\\.|[^"\\])*"', '""', prefix):
        if token in "[{":
            stack.append(token)
        elif token in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else "["


def signature_name(doc: dict) -> str:
    """The optional ``signature_name`` (must be a string)."""
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(
            f"JSON Value: {_pretty(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


# ---------------------------------------------------------------- JSON value -> ndarray
def tf_type_name(dtype) -> str:
    """TensorFlow's DataTypeString for a NumPy dtype ('float', 'double', 'int32', 'string', ...)."""
    name = np.dtype(dtype).name
    return {"float32": "float", "float64": "double", "float16": "half", "object": "string"}.get(name, name)


def _type_error(value, dtype: np.dtype) -> None:
    kind = {
        dict: "Object",
        list: "Array",
        str: "String",
        bool: "True" if value is True else "False",
        type(None): "Null",
    }.get(type(value), "Number")
    raise invalid(f"JSON Value: {_pretty(value)} Type: {kind} is not of expected type: {tf_type_name(dtype)}")


def _check_leaf(value, dtype: np.dtype):
    """One scalar: AddValueToTensor's type rules (ints for float are fine, bools or strings are not)."""
    kind = np.dtype(dtype).kind
    if kind == "f":
        if isinstance(value, bool) or not isinstance(value, int | float):
            _type_error(value, dtype)
    elif kind in "iu":
        if isinstance(value, bool) or not isinstance(value, int):
            _type_error(value, dtype)
    elif kind == "b":
        if not isinstance(value, bool):
            _type_error(value, dtype)
    elif kind in "SUO":
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            return base64.b64decode(value["b64"])
        if not isinstance(value, str):
            _type_error(value, dtype)
    return value


def _dense_shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level: int, shape: list[int], dtype, out: list) -> None:
    """FillTensorProto: every leaf at depth == rank, every list of the size the first one had."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid(
                f"JSON Value: {_pretty(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        out.append(_check_leaf(value, dtype))
        return
    if level >= rank:
        raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _fast(value, dtype, fast: bool = True) -> np.ndarray | None:
    """Well-formed numeric lists converted by NumPy in one go; None when the checked path must decide."""
    kind = np.dtype(dtype).kind
    if kind not in "fiu" or not fast:
        return None
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind in ("iu" if kind in "iu" else "fiu"):
        return array.astype(dtype, copy=False)
    return None


def to_array(value, dtype, fast: bool = True) -> np.ndarray:
    """A nested JSON list as an ndarray of ``dtype`` with json_tensor.cc's checks and errors
    (``fast=False`` skips NumPy's one-go conversion, which would accept true/false as numbers)."""
    array = _fast(value, dtype, fast)
    if array is not None:
        return array
    kind = np.dtype(dtype).kind
    shape, flat = _dense_shape(value), []
    _fill(value, 0, shape, dtype, flat)
    return np.asarray(flat, dtype=object if kind in "SUO" else dtype).reshape(shape)


def request_inputs(doc: dict, specs: dict[str, np.dtype]) -> tuple[str, dict[str, np.ndarray]]:
    """``("row"|"columnar", {input name: ndarray})`` from a parsed predict body (FillPredictRequestFromJson)."""
    fast = getattr(doc, "fast", False)
    has_rows, has_cols = "instances" in doc, "inputs" in doc
    if has_rows and has_cols:
        raise invalid(
            f"JSON Value: {_pretty(doc)} Not formatted correctly expecting only one of 'inputs' or "
            "'instances' keys to exist "
        )
    names = sorted(specs)
    if has_rows:
        rows = doc["instances"]
        if not isinstance(rows, list):
            raise invalid(f"JSON Value: {_pretty(doc)} Excepting 'instances' to be an list/array")
        if not rows:
            raise invalid(f"JSON Value: {_pretty(doc)} No values in 'instances' array")
        return "row", _rows_to_arrays(rows, specs, names, fast)
    if has_cols:
        value = doc["inputs"]
        if not isinstance(value, dict) or set(value) == {"b64"}:
            if len(specs) > 1:
                raise invalid(
                    "inputs is a plain value/list, but expecting an object as multiple input tensors "
                    "required as per tensorinfo_map"
                )
            return "columnar", {names[0]: to_array(value, specs[names[0]], fast)}
        arrays = {}
        for name in names:
            if name not in value:
                raise invalid(f"Missing named input: {name} in 'inputs' object.")
            arrays[name] = to_array(value[name], specs[name], fast)
        return "columnar", arrays
    raise invalid("Missing 'inputs' or 'instances' key")


def _rows_to_arrays(rows: list, specs: dict, names: list[str], fast: bool) -> dict[str, np.ndarray]:
    objects = isinstance(rows[0], dict) and set(rows[0]) != {"b64"}
    if not objects:
        if len(specs) > 1:
            raise invalid(
                "instances is a plain list, but expecting list of objects as multiple input tensors "
                "required as per tensorinfo_map"
            )
        dtype = specs[names[0]]
        array = _fast(rows, dtype, fast)
        return {names[0]: array if array is not None else _stack(rows, dtype, None, fast)}
    per_name: dict[str, list] = {n: [] for n in names}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        for key in row:
            if key not in specs:
                raise invalid(
                    f"Failed to process element: {i} key: {key} of 'instances' list. Error: "
                    f"INVALID_ARGUMENT: JSON object: does not have named input: {key}"
                )
        if set(row) != set(names):
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. JSON object: {_pretty(row)} "
                f"keys must be equal to: {','.join(names)}"
            )
        for name in names:
            per_name[name].append(row[name])
    return {n: _stack(per_name[n], specs[n], n, fast) for n in names}


def _stack(items: list, dtype, name: str | None, fast: bool) -> np.ndarray:
    """Each instance checked on its own (AddInstanceItem), then stacked along a new 0th dimension."""
    arrays, first = [], None
    for i, item in enumerate(items):
        try:
            array = to_array(item, dtype, fast)
            if first is not None and array.size != first.size:
                raise invalid(f"Expecting tensor size: {first.size} but got: {array.size}")
            if first is not None and array.shape != first.shape:
                raise invalid(
                    f"Expecting shape [{','.join(map(str, first.shape))}] but got: [{','.join(map(str, array.shape))}]"
                )
        except Exception as err:
            where = f"{i} key: {name}" if name else f"{i}"
            raise invalid(
                f"Failed to process element: {where} of 'instances' list. Error: "
                f"INVALID_ARGUMENT: {getattr(err, 'message', err)}"
            ) from None
        first = array if first is None else first
        arrays.append(array)
    return np.stack(arrays)


# ---------------------------------------------------------------- ndarray -> JSON text
def _float(value: float, max_digits: int) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = f"{value:g}"  # absl::StrCat: 6 significant digits
    if (np.float32(text) if max_digits == 9 else float(text)) != value:
        text = f"{value:.{max_digits}g}"  # max_digits10 when 6 digits do not round-trip
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _value_json(array: np.ndarray, name: str) -> str:
    kind = array.dtype.kind
    if kind == "f":
        digits = 9 if array.dtype == np.float32 else 17
        conv = lambda v: _float(v, digits)  # noqa: E731
    elif kind == "b":
        conv = lambda v: "true" if v else "false"  # noqa: E731
    elif kind in "iu":
        conv = str
    elif name.endswith("_bytes"):
        conv = lambda v: json.dumps({"b64": base64.b64encode(v).decode()})  # noqa: E731
    else:
        conv = lambda v: json.dumps(v.decode() if isinstance(v, bytes) else str(v))  # noqa: E731

    def walk(x):
        if isinstance(x, list):
            return "[" + ", ".join(walk(i) for i in x) + "]"
        return conv(x)

    return walk(array.tolist() if kind != "f" else array.astype(np.float64).tolist())


def response_json(outputs: dict[str, np.ndarray], fmt: str) -> str:
    """``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar), as MakeJsonFromTensors writes."""
    names = sorted(outputs)
    if fmt == "columnar":
        if len(names) == 1:
            return '{\n    "outputs": ' + _value_json(outputs[names[0]], names[0]) + "\n}"
        body = ",\n".join(f'        "{n}": {_value_json(outputs[n], n)}' for n in names)
        return '{\n    "outputs": {\n' + body + "\n    }\n}"
    if len(names) == 1:
        return '{\n    "predictions": ' + _value_json(outputs[names[0]], names[0]) + "\n}"
    rows = len(outputs[names[0]])
    items = []
    for i in range(rows):
        items.append("{" + ", ".join(f'"{n}": {_value_json(np.asarray(outputs[n][i]), n)}' for n in names) + "}")
    return '{\n    "predictions": [' + ", ".join(items) + "]\n}"
