"""Version folders as TF Serving's file-system storage path source reads them, version policies, and the
MetaGraphDef a version loads (file_system_storage_path_source.cc, tensorflow/cc/saved_model/reader.cc)."""

from __future__ import annotations

import logging
from pathlib import Path

from google.protobuf import text_format

from helpers.serving.local_server import status as st
from helpers.serving.local_server.flags import FlagError

log = logging.getLogger("helpers.serving")

_INT64_MAX = 2**63 - 1


def parse_version(name: str) -> int | None:
    """file_system_storage_path_source.cc ParseVersionNumber (absl::SimpleAtoi into int64): ASCII spaces
    around, an optional ``+``, decimal digits; leading zeros are fine (``00000123`` is 123). Negative numbers,
    which absl also accepts, are refused here: a version is a non-negative int64."""
    text = name.strip(" \t\n\v\f\r").removeprefix("+")
    if not text or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= _INT64_MAX else None


def version_folders(base_path: str | Path) -> dict[int, str]:
    """``{version: folder name}`` under ``base_path``: every child folder whose name parses as a version
    (others are ignored, as TF Serving ignores them). When two names give one version (``1`` and ``01``) the
    later name in string order wins, as in the real source (``1`` beats ``01``), with its warning."""
    base = Path(base_path)
    if not base.is_dir():
        return {}
    found: dict[int, str] = {}
    for child in sorted(p.name for p in base.iterdir() if p.is_dir()):
        version = parse_version(child)
        if version is None:
            continue
        if version in found:
            log.warning(
                "Duplicate version directories detected. Version %d will be loaded from %s, %s will be ignored.",
                version,
                child,
                found[version],
            )
        found[version] = child
    return found


def aspired_versions(model_config, on_disk: list[int]) -> list[int]:
    """The versions the model's ``model_version_policy`` wants served, given the folders on disk."""
    policy = model_config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return list(on_disk)
    if kind == "specific":
        return [v for v in on_disk if v in set(policy.specific.versions)]
    count = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions > 0 else 1
    return sorted(on_disk)[-count:]


def read_meta_graph(path: Path, tags) -> object:
    """The MetaGraphDef whose tag set equals ``tags`` (--saved_model_tags), with TensorFlow's errors."""
    from tensorflow.core.protobuf import saved_model_pb2  # imports TensorFlow: only where a model loads

    saved_model = saved_model_pb2.SavedModel()
    if (path / "saved_model.pb").is_file():
        try:
            saved_model.ParseFromString((path / "saved_model.pb").read_bytes())
        except Exception:  # noqa: BLE001 (DecodeError) -- tensorflow/core/platform/env.cc ReadBinaryProto
            raise st.ServingError(
                st.grpc.StatusCode.DATA_LOSS, f"Can't parse {path / 'saved_model.pb'} as binary proto"
            ) from None
    elif (path / "saved_model.pbtxt").is_file():
        text_format.Parse((path / "saved_model.pbtxt").read_text(), saved_model)
    else:  # tensorflow/cc/saved_model/reader.cc
        raise st.ServingError(
            st.grpc.StatusCode.NOT_FOUND,
            f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}. "
            "Check that the directory exists and that you have the right permissions for accessing it.",
        )
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    wanted = " ".join(f'tag: "{t}"' for t in tags)
    raise st.ServingError(
        st.grpc.StatusCode.NOT_FOUND,
        f"Could not find meta graph def matching supplied tags: {{ {wanted} }}. To inspect available tag-sets in"
        " the SavedModel, please use the SavedModel CLI: `saved_model_cli`",
    )


def version_dir(base_path: str | Path, version: int | None = None) -> Path:
    """The folder of ``version`` (default: the highest) under ``base_path``, named as on disk."""
    folders = version_folders(base_path)
    if not folders:
        raise FileNotFoundError(f"no version folder under {base_path}")
    return Path(base_path) / folders[max(folders) if version is None else version]


def check_config_paths(config) -> None:
    """Fail at start-up, as the real server does, when a model's base_path is missing."""
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise FlagError(f"model config entries need a name and a base_path, got {model}")
        if not Path(model.base_path).is_dir():
            raise FlagError(f"Could not find base path {model.base_path} for servable {model.name}")
