"""The command line of a model server, as a client writes it: ``--name=value`` arguments that the real
``tensorflow_model_server`` and the stand-in (``python -m helpers.serving``) both take, and the model names
a ``--model_config_file`` lists (so a client knows which models to wait for)."""

from __future__ import annotations

from pathlib import Path


def to_argv(**flags) -> list[str]:
    """Keyword flags as ``--name=value`` arguments (bools as true/false, None left out), for either server."""
    out = []
    for name, value in flags.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"--{name}={value}")
    return out


def config_model_names(path: str | Path) -> list[str]:
    """The model names a text ModelServerConfig file lists (``model_config_list { config { name: ... } }``)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(Path(path).read_text(), model_server_config_pb2.ModelServerConfig())
    return [model.name for model in config.model_config_list.config]
