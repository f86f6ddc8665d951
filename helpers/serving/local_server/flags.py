"""Command-line flags and configuration files, spelled and parsed as ``tensorflow_model_server`` does.

* Flags are ``--name=value`` (a bare ``--name`` sets a bool flag), with the real binary's names and defaults
  (tensorflow_serving/model_servers/main.cc). The real binary only prints ``unknown argument`` and carries
  on; this server exits with status 2 naming the argument, so a typo never looks like success.
* ``--model_config_file`` is a text ``ModelServerConfig`` protobuf, parsed with the protos that ship in
  ``tensorflow-serving-api`` (``tensorflow_serving.config.model_server_config_pb2``); see serving_config.md.
* ``--batching_parameters_file`` is a text ``BatchingParameters`` protobuf
  (tensorflow_serving/servables/tensorflow/session_bundle_config.proto). That proto does not ship in the
  pip package, so the same message is declared here field for field and parsed with ``text_format``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2

from helpers.serving.local_server.flag_table import FLAG_TABLE, IGNORED


class FlagError(ValueError):
    """A bad command line or configuration file; the server exits with status 2 and this message."""


_NCPU = os.cpu_count() or 1
_PY_TYPES = {"int32": int, "int64": int, "float": float, "bool": bool, "string": str}
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def _default(value):
    if value == "NCPU":
        return _NCPU
    if value == "4*NCPU":
        return 4 * _NCPU
    return value


Flags = make_dataclass(
    "Flags",
    [(name, _PY_TYPES[kind], field(default=_default(default))) for name, kind, default, _ in FLAG_TABLE],
)
Flags.__doc__ = "The 48 flags of tensorflow_model_server, with its defaults (see flag_table.py)."
KINDS = {name: kind for name, kind, _, _ in FLAG_TABLE}


def _number(name: str, kind: str, value: str):
    try:
        number = float(value) if kind == "float" else int(value, 10)
    except ValueError:
        raise FlagError(f"Couldn't interpret value ={value} for flag {name}.") from None
    low, high = _INT_RANGE.get(kind, (-math.inf, math.inf))
    if not low <= number <= high:
        raise FlagError(f"Couldn't interpret value ={value} for flag {name}.")
    return number


def parse_flags(argv: list[str], validate: bool = True) -> Flags:
    """Parse ``--name=value`` arguments into :class:`Flags` (TF's command_line_flags.cc rules: bools are
    ``--name``, ``--name=true`` or ``--name=false``); raise FlagError naming a bad or unknown one."""
    flags = Flags()
    for arg in argv:
        name, has_value, value = arg[2:].partition("=") if arg.startswith("--") else ("", False, "")
        if name not in KINDS:
            raise FlagError(
                f"unknown argument: {arg} (tensorflow_model_server would print this and ignore it; this server "
                f"exits so that a typo never looks like success; flags are spelled --name=value)"
            )
        kind = KINDS[name]
        if kind == "bool":
            if has_value and value not in ("true", "false"):
                raise FlagError(f"Couldn't interpret value ={value} for flag {name}.")
            setattr(flags, name, not has_value or value == "true")
        elif not has_value:
            raise FlagError(f"Couldn't interpret value for flag {name} (expected --{name}=<{kind}>).")
        elif kind == "string":
            setattr(flags, name, value)
        else:
            setattr(flags, name, _number(name, kind, value))
    if validate and not flags.version:
        validate_flags(flags)
    return flags


def validate_flags(flags: Flags) -> None:
    """The checks of server.cc Server::BuildAndStart, with its texts."""
    if flags.port == 0 and not flags.grpc_socket_path:
        raise FlagError("At least one of server_options.grpc_port or server_options.grpc_socket_path must be set.")
    if flags.use_alts_credentials and flags.ssl_config_file:
        raise FlagError("Either use_alts_credentials must be false or ssl_config_file must be empty.")
    if not flags.model_config_file and not flags.model_base_path:
        raise FlagError("Both server_options.model_base_path and server_options.model_config_file are empty!")
    if flags.batching_parameters_file and not flags.enable_batching:
        raise FlagError(
            "server_options.batching_parameters_file is set without setting server_options.enable_batching to true."
        )
    if (
        flags.tensorflow_session_parallelism > 0
        and flags.tensorflow_intra_op_parallelism > 0
        and flags.tensorflow_inter_op_parallelism > 0
    ):
        raise FlagError(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all."
        )
    for name in ("port", "rest_api_port"):
        if not 0 <= getattr(flags, name) <= 65535:
            raise FlagError(f"--{name} must be a TCP port (0-65535), got {getattr(flags, name)}")


def ignored_flags(flags: Flags) -> list[str]:
    """``--name=value`` of every accepted-and-ignored flag set to a value other than its default."""
    defaults = Flags()
    return [
        f"--{name}={getattr(flags, name)} ({why})"
        for name, why in IGNORED.items()
        if getattr(flags, name) != getattr(defaults, name)
    ]


def grpc_channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """server.cc parseGrpcChannelArgs: ``key=value,...``; a value that parses as int32 is passed as an int."""
    args = []
    for piece in filter(None, text.split(",")):
        key_val = piece.split("=")
        if len(key_val) < 2:  # the real server indexes out of bounds here
            raise FlagError(f"--grpc_channel_arguments: {piece!r} is not key=value")
        key, value = key_val[0], key_val[1]
        try:
            number = int(value.strip(), 10)
            args.append((key, number) if -(2**31) <= number < 2**31 else (key, value))
        except ValueError:
            args.append((key, value))
    return args


# ---------------------------------------------------------------- model server config (serving_config.md)
class ConfigParseError(FlagError):
    """A text protobuf file that does not parse; ``parser_line`` is what protobuf's C++ parser logs."""

    def __init__(self, message: str, parser_line: str):
        super().__init__(message)
        self.parser_line = parser_line


_NO_FIELD = re.compile(r'Message type "[^"]+" has no field named "([^"]+)"\.')


def _parser_line(err: text_format.ParseError, text: str, full_name: str) -> str:
    """text_format.cc ReportErrorImpl's line: ``Error parsing text-format <type>: <line>:<col>: <reason>``.

    Python's parser points at the unknown field's name, the C++ one at the token after it (it reports
    ``tokenizer_.current()``), so that position is recomputed; other reasons keep Python's wording."""
    line, column = err.GetLine() or 1, err.GetColumn() or 1
    reason = str(err).split(" : ", 1)[-1]
    reason = re.sub(r"^'.*?': ", "", reason)
    unknown = _NO_FIELD.search(reason)
    if unknown:
        lines = text.split("\n")
        offset = sum(len(x) + 1 for x in lines[: line - 1]) + column - 1 + len(unknown.group(1))
        while offset < len(text) and text[offset] in " \t\r\n":
            offset += 1
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"Error parsing text-format {full_name}: {line}:{column}: {reason}"


def parse_text_proto(text: str, message, source: str = "<text>"):
    """util/proto_util.h ParseProtoTextFile: ``Invalid protobuf file: '<file>'`` (the parser's own line is
    in ``parser_line``)."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        line = _parser_line(err, text, message.DESCRIPTOR.full_name)
        raise ConfigParseError(f"Invalid protobuf file: '{source}'", line) from None
    return message


def model_server_config_from_text(text: str, source: str = "<text>"):
    """Parse a text ModelServerConfig (``model_config_list { config { ... } }``); ConfigParseError if invalid."""
    from tensorflow_serving.config import model_server_config_pb2

    return parse_text_proto(text, model_server_config_pb2.ModelServerConfig(), source)


def read_model_server_config(path: str | Path):
    """Read ``--model_config_file``; base paths that are relative are taken from the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise FlagError(f"NOT_FOUND: {path}; No such file or directory")
    config = model_server_config_from_text(path.read_text(), str(path))
    for model in config.model_config_list.config:
        if model.base_path and not Path(model.base_path).is_absolute():
            model.base_path = str((path.parent / model.base_path).resolve())
    return config


def single_model_config(model_name: str, model_base_path: str):
    """The config ``--model_name``/``--model_base_path`` stand for (main.cc BuildSingleModelConfig)."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = model_name
    model.base_path = str(Path(model_base_path).resolve())
    model.model_platform = "tensorflow"
    return config


# ---------------------------------------------------------------- batching parameters (batching README)
def _batching_parameters_class():
    """The BatchingParameters message class, declared from session_bundle_config.proto's field list."""
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="helpers_serving_batching.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    msg = proto.message_type.add(name="BatchingParameters")
    f = descriptor_pb2.FieldDescriptorProto
    for number, name in enumerate(
        ["max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"], start=1
    ):
        msg.field.add(
            name=name,
            number=number,
            type=f.TYPE_MESSAGE,
            label=f.LABEL_OPTIONAL,
            type_name=".google.protobuf.Int64Value",
        )
    msg.field.add(
        name="thread_pool_name",
        number=5,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_OPTIONAL,
        type_name=".google.protobuf.StringValue",
    )
    msg.field.add(name="allowed_batch_sizes", number=6, type=f.TYPE_INT64, label=f.LABEL_REPEATED)
    msg.field.add(name="pad_variable_length_inputs", number=7, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


BatchingParametersProto = _batching_parameters_class()


@dataclass
class BatchingParameters:
    """Batching options; the defaults are TensorFlow's BasicBatchScheduler::Options defaults
    (tensorflow/core/kernels/batching_util/basic_batch_scheduler.h), except num_batch_threads (see below)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 1  # TF defaults to the number of cores; 1 keeps a 2-core machine responsive
    allowed_batch_sizes: tuple[int, ...] = ()

    def validate(self) -> BatchingParameters:
        """Check the rules batching_session.cc enforces; raise FlagError naming the broken one."""
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise FlagError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise FlagError(f"batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        sizes = list(self.allowed_batch_sizes)
        if sizes:
            if sizes != sorted(set(sizes)):
                raise FlagError("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                raise FlagError("Final entry in allowed_batch_sizes must equal max_batch_size")
        return self

    def to_text(self) -> str:
        """This object as a batching parameters file (text BatchingParameters protobuf)."""
        proto = BatchingParametersProto()
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            getattr(proto, name).value = getattr(self, name)
        proto.allowed_batch_sizes.extend(self.allowed_batch_sizes)
        return text_format.MessageToString(proto)


def batching_parameters_from_text(text: str, source: str = "<text>") -> BatchingParameters:
    """Parse a batching parameters file, e.g. ``max_batch_size { value: 32 }``; unset fields keep defaults."""
    proto = parse_text_proto(text, BatchingParametersProto(), source)
    params = BatchingParameters()
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
        if proto.HasField(name):
            setattr(params, name, int(getattr(proto, name).value))
    params.allowed_batch_sizes = tuple(int(s) for s in proto.allowed_batch_sizes)
    return params.validate()


def read_batching_parameters(path: str | Path | None) -> BatchingParameters:
    """Read ``--batching_parameters_file`` (defaults when no file is given)."""
    if not path:
        return BatchingParameters()
    path = Path(path)
    if not path.is_file():
        raise FlagError(f"--batching_parameters_file {path} does not exist")
    return batching_parameters_from_text(path.read_text(), str(path))

