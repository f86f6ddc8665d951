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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from helpers.serving.local_server import status as st
from helpers.serving.local_server.batching import Batcher
from helpers.serving.local_server.flags import BatchingParameters
from helpers.serving.local_server.json_tensor import tf_type_name
from helpers.serving.local_server.versions import (  # noqa: F401 (check_config_paths: used from here)
    aspired_versions,
    check_config_paths,
    read_meta_graph,
    version_folders,
)

log = logging.getLogger("helpers.serving")
State = get_model_status_pb2.ModelVersionStatus.State
DEFAULT_SIGNATURE = "serving_default"  # tensorflow/cc/saved_model/signature_constants.h
INIT_OP = "__saved_model_init_op"


class Servable:
    """One loaded SavedModel version: its signatures (SignatureDefs) and a thread-safe ``predict``."""

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        batching: BatchingParameters | None = None,
        tags: tuple[str, ...] = ("serve",),
        prefer_tflite: bool = False,
    ):
        self.name, self.version, self.path = name, version, Path(path)
        self.tflite = prefer_tflite and (self.path / "model.tflite").is_file()
        if self.tflite:  # --prefer_tflite_model; falls back to the SavedModel when there is no model.tflite
            from helpers.serving.local_server.tflite import load_tflite

            self.signature_defs, self.functions = load_tflite(self.path / "model.tflite")
        else:
            meta_graph = read_meta_graph(self.path, tags)
            self.signature_defs = dict(meta_graph.signature_def)
            self.module = tf.saved_model.load(str(self.path), tags=list(tags))
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
        if self.tflite:
            return self.functions[key](**inputs)
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


@dataclass
class LoadOptions:
    """How versions are loaded: the flags of main.cc that govern it, with the real binary's defaults."""

    tags: tuple[str, ...] = ("serve",)  # --saved_model_tags
    prefer_tflite: bool = False  # --prefer_tflite_model
    max_num_load_retries: int = 5  # --max_num_load_retries
    load_retry_interval_micros: int = 60_000_000  # --load_retry_interval_micros
    enable_model_warmup: bool = True  # --enable_model_warmup
    warmup_iterations: int = 1  # --num_request_iterations_for_warmup, when > 0
    metrics: object = None  # monitoring.Metrics, when --monitoring_config_file enables Prometheus


class ModelManager:
    """The models of a ModelServerConfig, their versions, states and labels; reloadable at run time."""

    def __init__(
        self,
        batching: BatchingParameters | None = None,
        allow_labels_for_unavailable: bool = False,
        options: LoadOptions | None = None,
    ):
        self.batching = batching
        self.allow_labels_for_unavailable = allow_labels_for_unavailable
        self.options = options or LoadOptions()
        self.config = None
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()  # one loader at a time (poll thread vs config reload)
        self._closing = threading.Event()
        self.servables: dict[str, dict[int, Servable]] = {}
        # name -> version -> (State, error code number, error message)
        self.states: dict[str, dict[int, tuple[int, int, str]]] = {}
        self.labels: dict[str, dict[str, int]] = {}

    # ---------------------------------------------------------------- configuration
    def _available(self, name: str) -> set[int]:
        return {v for v, (s, _, _) in self.states.get(name, {}).items() if s == State.AVAILABLE}

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
            folders = version_folders(model.base_path)
            aspired = aspired_versions(model, sorted(folders))
            for version in aspired:  # load first ...
                state = self.states.get(name, {}).get(version)
                failed = state is not None and state[0] == State.END and state[1] != 0
                if version not in self.servables.get(name, {}) and not failed:  # a failed load is not retried
                    self._load(name, version, Path(model.base_path) / folders[version])
            # ... then unload what is no longer wanted, once an aspired version serves (availability preserving)
            if not aspired or self._available(name) & set(aspired):
                for version in list(self.servables.get(name, {})):
                    if version not in aspired:
                        self._unload(name, version)

    def _set_state(self, name: str, version: int, state: int, code: int = 0, error: str = "") -> None:
        with self._lock:
            self.states.setdefault(name, {})[version] = (state, code, error)

    def _load(self, name: str, version: int, path: Path) -> None:
        """loader_harness.cc: 1 + max_num_load_retries attempts, load_retry_interval_micros apart; warm-up
        (when enabled) runs before the version is AVAILABLE and its failure fails the load."""
        opts = self.options
        self._set_state(name, version, State.START)
        self._set_state(name, version, State.LOADING)
        started = time.perf_counter()
        servable_id = f"{{name: {name} version: {version}}}"
        attempts = 1 + max(opts.max_num_load_retries, 0)
        for attempt in range(attempts):
            servable = None
            try:
                servable = Servable(name, version, path, self.batching, opts.tags, opts.prefer_tflite)
                if opts.enable_model_warmup:
                    from helpers.serving.local_server.warmup import run_warmup

                    run_warmup(servable, opts.warmup_iterations, opts.metrics)
                break
            except Exception as err:  # noqa: BLE001 (any load error is reported in the model's status)
                if servable is not None:
                    servable.unload()
                error = err if isinstance(err, st.ServingError) else st.from_exception(err)
                log.error("Loading servable: %s failed: %s: %s", servable_id, error.code.name, error.message)
                if attempt + 1 == attempts:
                    if attempts > 1:
                        log.error(
                            "Retrying of Loading servable: %s exhausted max_num_load_retries: %d",
                            servable_id,
                            opts.max_num_load_retries,
                        )
                    self._set_state(name, version, State.END, error.code_number, error.message)
                    return
                log.info("Retrying of Loading servable: %s retry: %d", servable_id, attempt + 1)
                if opts.load_retry_interval_micros > 0 and self._closing.wait(opts.load_retry_interval_micros / 1e6):
                    self._set_state(name, version, State.END, error.code_number, error.message)
                    return
        with self._lock:
            self.servables.setdefault(name, {})[version] = servable
        self._set_state(name, version, State.AVAILABLE)
        log.info("Successfully loaded servable version %s in %.1f s", servable_id, time.perf_counter() - started)

    def unavailable(self, names=None) -> list[str]:
        """load_servables_fast.cc: ``{name: m version: v} due to error: CODE: message`` for every model whose
        latest aspired version did not become AVAILABLE (the server then refuses to start)."""
        failed = []
        for model in self.config.model_config_list.config:
            if names is not None and model.name not in names:
                continue
            states = self.states.get(model.name, {})
            if not states:
                failed.append(
                    f"{{name: {model.name} version: ?}} due to error: NOT_FOUND: no version found "
                    f"under base path {model.base_path}"
                )
                continue
            latest = max(states)
            state, code, error = states[latest]
            if state != State.AVAILABLE:
                code_name = st.code_from_number(code).name
                failed.append(f"{{name: {model.name} version: {latest}}} due to error: {code_name}: {error}")
        return failed

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
                state, code, error = states[v]
                entry = response.model_version_status.add(version=v, state=state)
                entry.status.SetInParent()  # error_code OK (0) is printed too, as the real server does
                entry.status.error_code = code
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
        self._closing.set()
        with self._sync_lock:
            for name in list(self.servables):
                for version in list(self.servables[name]):
                    self._unload(name, version)
