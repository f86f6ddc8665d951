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

from dataclasses import dataclass, fields
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2


class FlagError(ValueError):
    """A bad command line or configuration file; the server exits with status 2 and this message."""


@dataclass
class Flags:
    """The flags this server understands (names and defaults from tensorflow_model_server's main.cc)."""

    port: int = 8500  # gRPC port
    rest_api_port: int = 0  # 0 = no REST API
    rest_api_num_threads: int = 32  # threads that run REST requests
    rest_api_timeout_in_ms: int = 30000  # a REST request running longer fails with DEADLINE_EXCEEDED
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0  # 0 = read the config file once
    file_system_poll_wait_seconds: int = 1  # <= 0: look for versions once, at start-up
    allow_version_labels_for_unavailable_models: bool = False
    enable_batching: bool = False
    batching_parameters_file: str = ""
    tensorflow_intra_op_parallelism: int = 0  # 0 = TensorFlow picks
    tensorflow_inter_op_parallelism: int = 0
    grpc_max_threads: int = 64  # threads of the gRPC server


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_flags(argv: list[str]) -> Flags:
    """Parse ``--name=value`` arguments into :class:`Flags`; raise FlagError naming a bad or unknown one."""
    flags = Flags()
    types = {f.name: f.type for f in fields(Flags)}
    for arg in argv:
        if not arg.startswith("--"):
            raise FlagError(f"unknown argument: {arg} (flags are spelled --name=value)")
        name, has_value, value = arg[2:].partition("=")
        if name not in types:
            raise FlagError(
                f"unknown argument: {arg} (tensorflow_model_server would print a warning and ignore it; "
                f"known flags: {', '.join('--' + n for n in sorted(types))})"
            )
        kind = types[name]
        if kind in (bool, "bool"):
            if has_value and value.lower() not in _TRUE + _FALSE:
                raise FlagError(f"Couldn't interpret value {value} for flag {name}.")
            setattr(flags, name, not has_value or value.lower() in _TRUE)
        elif kind in (int, "int"):
            try:
                setattr(flags, name, int(value))
            except ValueError:
                raise FlagError(f"Couldn't interpret value {value} for flag {name}.") from None
        else:
            setattr(flags, name, value)
    if not flags.model_config_file and not flags.model_base_path:
        # tensorflow_serving/model_servers/server.cc, Server::BuildAndStart
        raise FlagError("Both server_options.model_base_path and server_options.model_config_file are empty!")
    for name in ("port", "rest_api_port"):
        if not 0 <= getattr(flags, name) <= 65535:
            raise FlagError(f"--{name} must be a TCP port (0-65535), got {getattr(flags, name)}")
    return flags


# ---------------------------------------------------------------- model server config (serving_config.md)
def model_server_config_from_text(text: str, source: str = "<text>"):
    """Parse a text ModelServerConfig (``model_config_list { config { ... } }``); FlagError if it is invalid."""
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        # main.cc ParseProtoTextFile: "Invalid protobuf file: '<file>'" (plus the parser's reason here)
        raise FlagError(f"Invalid protobuf file: '{source}' ({err})") from None
    return config


def read_model_server_config(path: str | Path):
    """Read ``--model_config_file``; base paths that are relative are taken from the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise FlagError(f"--model_config_file {path} does not exist")
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
    proto = BatchingParametersProto()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as err:
        raise FlagError(f"Invalid protobuf file: '{source}' ({err})") from None
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


def to_argv(**flags) -> list[str]:
    """Keyword flags as ``--name=value`` arguments (bools as true/false), for either server."""
    out = []
    for name, value in flags.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"--{name}={value}")
    return out
