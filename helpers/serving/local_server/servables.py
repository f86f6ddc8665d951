"""Servables and their life cycle: SavedModel version folders, version policies, labels, polling.

A model's ``base_path`` holds numbered folders (``1/``, ``2/``: the layout ``model.export`` writes). The
version policy (``latest`` N, default 1; ``all``; ``specific``) picks which of them to serve; new folders
are found every ``--file_system_poll_wait_seconds``. As TensorFlow Serving's AvailabilityPreservingPolicy
does, a new version is loaded *before* the one it replaces is unloaded, and a request keeps the servable it
resolved until it finishes, so swapping versions never fails an in-flight request. ``version_labels`` map
names to versions with the checks of server_core.cc (see ``status.py`` for the error texts).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from helpers.serving.local_server import status as st
from helpers.serving.local_server.batching import Batcher
from helpers.serving.local_server.flags import BatchingParameters, FlagError
from helpers.serving.local_server.json_tensor import tf_type_name

log = logging.getLogger("helpers.serving")
State = get_model_status_pb2.ModelVersionStatus.State
DEFAULT_SIGNATURE = "serving_default"  # tensorflow/cc/saved_model/signature_constants.h
INIT_OP = "__saved_model_init_op"


def version_folders(base_path: str | Path) -> list[int]:
    """Versions found under ``base_path``: numeric folder names (others are ignored, as TF Serving does)."""
    base = Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


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


class Servable:
    """One loaded SavedModel version: its signatures (SignatureDefs) and a thread-safe ``predict``."""

    def __init__(self, name: str, version: int, path: Path, batching: BatchingParameters | None = None):
        self.name, self.version, self.path = name, version, Path(path)
        saved_model = saved_model_pb2.SavedModel()
        saved_model.ParseFromString((self.path / "saved_model.pb").read_bytes())
        self.signature_defs = dict(saved_model.meta_graphs[0].signature_def)
        self.module = tf.saved_model.load(str(self.path), tags=["serve"])
        self.functions = {k: self.module.signatures[k] for k in self.signature_defs if k != INIT_OP}
        self.batchers: dict[str, Batcher] = {}
        self._specs: dict[str, dict] = {}
        if batching is not None:
            for key in self.functions:
                self.batchers[key] = Batcher(
                    lambda inputs, key=key: self.run(key, inputs), batching, name=f"{name}-{version}-{key}"
                )

    def input_specs(self, signature: str) -> dict[str, tuple[np.dtype, list[int] | None]]:
        """``{alias: (numpy dtype, shape with -1 for unknown dims, or None for unknown rank)}``."""
        if signature not in self._specs:
            specs = {}
            for alias, info in self.signature_defs[signature].inputs.items():
                dims = None if info.tensor_shape.unknown_rank else [d.size for d in info.tensor_shape.dim]
                specs[alias] = (np.dtype(tf.dtypes.as_dtype(info.dtype).as_numpy_dtype), dims)
            self._specs[signature] = specs
        return self._specs[signature]

    def check_signature(self, signature: str, rest: bool = False) -> str:
        """The signature key to use ('' means serving_default); unknown keys raise the documented error."""
        key = signature or DEFAULT_SIGNATURE
        if key not in self.functions:
            raise st.rest_signature_not_found(key) if rest else st.signature_key_not_found(key)
        return key

    def check_inputs(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate names, dtypes and shapes against the SignatureDef (predict_util.cc's checks)."""
        specs = self.input_specs(key)
        for alias in inputs:
            if alias not in specs:
                raise st.input_alias_not_found(alias, list(specs))
        if set(inputs) != set(specs):
            missing = sorted(set(specs) - set(inputs))
            raise st.invalid(
                f"input size does not match signature: {len(inputs)}!={len(specs)} "
                f"len({{{','.join(sorted(inputs))}}}). Missing but required: {{{','.join(missing)}}}."
            )
        checked = {}
        for i, (alias, value) in enumerate(inputs.items()):
            dtype, dims = specs[alias]
            value = np.asarray(value)
            if value.dtype != dtype:
                raise st.invalid(
                    f"Expects arg[{i}] to be {tf_type_name(dtype)} but {tf_type_name(value.dtype)} is provided"
                )
            if dims is not None and (
                value.ndim != len(dims) or any(d >= 0 and d != s for d, s in zip(dims, value.shape, strict=False))
            ):
                want = "[" + ",".join("?" if d < 0 else str(d) for d in dims) + "]"
                # The real server's text for this comes from the TF runtime and depends on the model.
                raise st.invalid(f"Input {alias} has shape {list(value.shape)} but the signature {key} expects {want}")
            checked[alias] = value
        return checked

    def run(self, key: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the signature once on already-validated inputs (no batching)."""
        outputs = self.functions[key](**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}

    def prepare(self, signature: str, inputs: dict[str, np.ndarray], rest: bool = False):
        """Validate a request: ``(signature_key, checked inputs)`` or a ServingError."""
        key = self.check_signature(signature, rest)
        return key, self.check_inputs(key, inputs)

    def submit_async(self, key: str, checked: dict[str, np.ndarray], pool) -> asyncio.Future:
        """Run a prepared request from a coroutine: through the batcher when batching is on, else on ``pool``
        (a thread pool); returns an asyncio future of the outputs on the running event loop (the batcher hands
        results back to the loop once per batch, not once per request)."""
        if key in self.batchers:
            return self.batchers[key].submit_async(checked)
        return asyncio.get_running_loop().run_in_executor(pool, self.run, key, checked)

    def predict(
        self, signature: str, inputs: dict[str, np.ndarray], timeout: float | None = None, rest: bool = False
    ) -> tuple[str, dict[str, np.ndarray]]:
        """Validate and run in this thread (batched when batching is on); returns ``(signature_key, outputs)``."""
        key, checked = self.prepare(signature, inputs, rest)
        if key in self.batchers:
            return key, self.batchers[key].submit(checked, timeout)
        return key, self.run(key, checked)

    def unload(self) -> None:
        """Stop the batch threads; the SavedModel is freed once no request holds this object."""
        for key, batcher in self.batchers.items():
            batcher.stop()
            if batcher.stats["calls"]:
                log.info("%s version %s %s batching: %s", self.name, self.version, key, batcher.stats)


class ModelManager:
    """The models of a ModelServerConfig, their versions, states and labels; reloadable at run time."""

    def __init__(self, batching: BatchingParameters | None = None, allow_labels_for_unavailable: bool = False):
        self.batching = batching
        self.allow_labels_for_unavailable = allow_labels_for_unavailable
        self.config = None
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()  # one loader at a time (poll thread vs config reload)
        self.servables: dict[str, dict[int, Servable]] = {}
        self.states: dict[str, dict[int, tuple[int, str]]] = {}  # name -> version -> (State, error text)
        self.labels: dict[str, dict[str, int]] = {}

    # ---------------------------------------------------------------- configuration
    def _available(self, name: str) -> set[int]:
        return {v for v, (s, _) in self.states.get(name, {}).items() if s == State.AVAILABLE}

    def _label_map(self, config) -> dict[str, dict[str, int]]:
        """server_core.cc UpdateModelVersionLabelMap: labels must point at AVAILABLE versions, unless
        --allow_version_labels_for_unavailable_models (and then only for new labels, not moved ones)."""
        labels: dict[str, dict[str, int]] = {}
        for model in config.model_config_list.config:
            for label, version in model.version_labels.items():
                existing = self.labels.get(model.name, {}).get(label)
                allowed = self.allow_labels_for_unavailable and (existing is None or existing == version)
                if not allowed and version not in self._available(model.name):
                    raise st.label_for_unavailable_version(model.name, version)
                labels.setdefault(model.name, {})[label] = version
        return labels

    def reload_config(self, config) -> None:
        """Adopt a new ModelServerConfig: check labels, load/unload versions; raise ServingError if refused."""
        if config.WhichOneof("config") != "model_config_list":
            raise st.ServingError(
                st.grpc.StatusCode.FAILED_PRECONDITION,
                "Cannot transition to requested config. It is only legal to transition "
                "from one ModelConfigList to another.",
            )
        names = [m.name for m in config.model_config_list.config]
        if len(names) != len(set(names)):
            raise st.invalid(
                "Illegal to list model "
                + next(n for n in names if names.count(n) > 1)
                + " multiple times in config list"
            )
        with self._sync_lock:
            with self._lock:
                labels = self._label_map(config)
                self.config = config
                self.labels = labels
            self._sync()

    def poll(self) -> None:
        """Look at every model's base_path once and load/unload versions to match its policy."""
        with self._sync_lock:
            self._sync()

    def _sync(self) -> None:
        wanted = {m.name: m for m in self.config.model_config_list.config}
        for name in list(self.servables):
            if name not in wanted:
                for version in list(self.servables[name]):
                    self._unload(name, version)
        for name, model in wanted.items():
            aspired = aspired_versions(model, version_folders(model.base_path))
            for version in aspired:  # load first ...
                if version not in self.servables.get(name, {}):
                    self._load(name, version, Path(model.base_path) / str(version))
            for version in list(self.servables.get(name, {})):  # ... then unload what is no longer wanted
                if version not in aspired:
                    self._unload(name, version)

    def _set_state(self, name: str, version: int, state: int, error: str = "") -> None:
        with self._lock:
            self.states.setdefault(name, {})[version] = (state, error)

    def _load(self, name: str, version: int, path: Path) -> None:
        self._set_state(name, version, State.START)
        self._set_state(name, version, State.LOADING)
        started = time.perf_counter()
        try:
            servable = Servable(name, version, path, self.batching)
        except Exception as err:  # a half-written or broken folder: report it, retry at the next poll
            log.warning("loading %s version %s failed: %s", name, version, err)
            self._set_state(name, version, State.END, f"{type(err).__name__}: {err}")
            return
        with self._lock:
            self.servables.setdefault(name, {})[version] = servable
        self._set_state(name, version, State.AVAILABLE)
        log.info("loaded %s version %s in %.1f s", name, version, time.perf_counter() - started)

    def _unload(self, name: str, version: int) -> None:
        self._set_state(name, version, State.UNLOADING)
        with self._lock:
            servable = self.servables[name].pop(version)
        servable.unload()
        self._set_state(name, version, State.END)
        log.info("unloaded %s version %s", name, version)

    # ---------------------------------------------------------------- requests
    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a ModelSpec names (server_core.cc ServableRequestFromModelSpec)."""
        if not name:
            raise st.invalid("ModelSpec has no name specified.")
        with self._lock:
            if label:
                if label not in self.labels.get(name, {}):
                    raise st.unrecognized_label(label)
                version = self.labels[name][label]
            loaded = self.servables.get(name, {})
            if version is None:
                if not loaded:
                    raise st.servable_not_found(name, None)
                return loaded[max(loaded)]
            if version not in loaded:
                raise st.servable_not_found(name, version)
            return loaded[version]

    def status(self, name: str, version: int | None = None, label: str | None = None):
        """A GetModelStatusResponse (get_model_status_impl.cc): every version the server has seen."""
        if not name:
            raise st.invalid("Missing ModelSpec")
        response = get_model_status_pb2.GetModelStatusResponse()
        with self._lock:
            if label:
                if label not in self.labels.get(name, {}):
                    raise st.unrecognized_label(label)
                version = self.labels[name][label]
            states = self.states.get(name, {})
            if version is not None:
                if version not in states:
                    raise st.no_such_version(name, version)
                chosen = [version]
            else:
                if not states:
                    raise st.no_versions(name)
                chosen = sorted(states, reverse=True)
            for v in chosen:
                state, error = states[v]
                entry = response.model_version_status.add(version=v, state=state)
                entry.status.SetInParent()  # error_code OK (0) is printed too, as the real server does
                if error:
                    entry.status.error_code = 2  # UNKNOWN
                    entry.status.error_message = error
        return response

    def metadata(self, name: str, version: int | None = None, label: str | None = None, fields=None):
        """A GetModelMetadataResponse with the ``signature_def`` field (get_model_metadata_impl.cc)."""
        fields = list(fields) if fields is not None else ["signature_def"]
        if not fields:
            raise st.invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in fields:
            if field != "signature_def":
                raise st.invalid(f"Metadata field {field} is not supported")
        servable = self.resolve(name, version, label)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = servable.version
        sigs = get_model_metadata_pb2.SignatureDefMap()
        for key, value in servable.signature_defs.items():
            sigs.signature_def[key].CopyFrom(value)
        response.metadata["signature_def"].Pack(sigs)
        return response

    def close(self) -> None:
        """Unload everything (stops batch threads)."""
        with self._sync_lock:
            for name in list(self.servables):
                for version in list(self.servables[name]):
                    self._unload(name, version)


def check_config_paths(config) -> None:
    """Fail at start-up, as the real server does, when a model's base_path is missing."""
    for model in config.model_config_list.config:
        if not model.name or not model.base_path:
            raise FlagError(f"model config entries need a name and a base_path, got {model}")
        if not Path(model.base_path).is_dir():
            raise FlagError(f"Could not find base path {model.base_path} for servable {model.name}")
