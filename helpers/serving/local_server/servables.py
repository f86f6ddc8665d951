"""Servables and their life cycle: SavedModel version folders, version policies, labels, polling.

A model's ``base_path`` holds numbered folders (``1/``, ``2/``: the layout ``model.export`` writes). The
version policy (``latest`` N, default 1; ``all``; ``specific``) picks which of them to serve; new folders
are found every ``--file_system_poll_wait_seconds``. As TensorFlow Serving's AvailabilityPreservingPolicy
does, a new version is loaded *before* the one it replaces is unloaded, and a request keeps the servable it
resolved until it finishes, so swapping versions never fails an in-flight request. ``version_labels`` map
names to versions with the checks of server_core.cc (see ``status.py`` for the error texts).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from helpers.serving.local_server import status as st
from helpers.serving.local_server.servable import LoadOptions, Servable
from helpers.serving.local_server.versions import aspired_versions, version_folders
from helpers.serving.local_server.warmup import run_warmup

log = logging.getLogger("helpers.serving")
State = get_model_status_pb2.ModelVersionStatus.State


class ModelManager:
    """The models of a ModelServerConfig, their versions, states and labels; reloadable at run time."""

    def __init__(self, options: LoadOptions | None = None, allow_labels_for_unavailable: bool = False):
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
                servable = Servable(name, version, path, opts)
                if opts.enable_model_warmup:
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
    def _label_version(self, name: str, version: int | None, label: str | None) -> int | None:
        """The version a label names (server_core.cc GetModelVersionForLabel), else ``version`` itself."""
        if not label:
            return version
        if label not in self.labels.get(name, {}):
            raise st.unrecognized_label(label)
        return self.labels[name][label]

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a ModelSpec names (server_core.cc ServableRequestFromModelSpec)."""
        if not name:
            raise st.invalid("ModelSpec has no name specified.")
        with self._lock:
            version = self._label_version(name, version, label)
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
            version = self._label_version(name, version, label)
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
