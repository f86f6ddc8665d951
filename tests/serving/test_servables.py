"""In-process tests of helpers.serving.local_server.servables: version policies, polling, labels and states."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.slow,  # starts model servers or loads models with TensorFlow
    pytest.mark.usefixtures("tf_runtime"),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Three versions of a tiny model in a staging folder (copied into base paths by the tests)."""
    import keras

    from helpers.models import export_version

    staging = tmp_path_factory.mktemp("staging")
    for version in (1, 2, 3):
        keras.utils.set_random_seed(version)
        inputs = keras.Input(shape=(4,), name="x")
        model = keras.Model(inputs, keras.layers.Dense(3, name="probs")(inputs))
        export_version(model, staging, version)
    return staging


def _base(tmp_path, exported, versions):
    import shutil

    base = tmp_path / "m"
    base.mkdir()
    for v in versions:
        shutil.copytree(exported / str(v), base / str(v))
    return base


def _config(base, policy="", labels=None):
    from helpers.serving.local_server.flags import model_server_config_from_text

    label_text = " ".join(f'version_labels {{ key: "{k}" value: {v} }}' for k, v in (labels or {}).items())
    return model_server_config_from_text(
        f'model_config_list {{ config {{ name: "m" base_path: "{base}" {policy} {label_text} }} }}'
    )


def _states(manager):
    from tensorflow_serving.apis import get_model_status_pb2

    name = get_model_status_pb2.ModelVersionStatus.State.Name
    return {s.version: name(s.state) for s in manager.status("m").model_version_status}


def test_latest_policy_polls_new_versions_and_unloads_old(tmp_path, exported):
    from helpers.serving.local_server.servables import ModelManager

    base = _base(tmp_path, exported, [1, 2])
    manager = ModelManager()
    try:
        manager.reload_config(_config(base))
        assert _states(manager) == {2: "AVAILABLE"} and manager.resolve("m").version == 2
        held = manager.resolve("m")  # an in-flight request keeps its servable through the swap
        (tmp_path / "new").mkdir()
        os.rename(_base(tmp_path / "new", exported, [3]) / "3", base / "3")  # atomic: never half-written
        manager.poll()
        assert _states(manager) == {3: "AVAILABLE", 2: "END"} and manager.resolve("m").version == 3
        _, out = held.predict("", {"x": np.ones((1, 4), np.float32)})
        assert [v.shape for v in out.values()] == [(1, 3)]
    finally:
        manager.close()


def test_all_and_specific_policies(tmp_path, exported):
    from helpers.serving.local_server.servables import ModelManager, aspired_versions

    base = _base(tmp_path, exported, [1, 2, 3])
    cfg_all = _config(base, "model_version_policy { all {} }").model_config_list.config[0]
    cfg_two = _config(base, "model_version_policy { latest { num_versions: 2 } }").model_config_list.config[0]
    cfg_spec = _config(base, "model_version_policy { specific { versions: 1 versions: 3 } }")
    assert aspired_versions(cfg_all, [1, 2, 3]) == [1, 2, 3]
    assert aspired_versions(cfg_two, [1, 2, 3]) == [2, 3]
    manager = ModelManager()
    try:
        manager.reload_config(cfg_spec)
        assert _states(manager) == {1: "AVAILABLE", 3: "AVAILABLE"}
        assert manager.resolve("m", version=1).version == 1
    finally:
        manager.close()


def test_labels_follow_server_core_rules(tmp_path, exported):
    from helpers.serving.local_server.servables import ModelManager
    from helpers.serving.local_server.status import ServingError

    base = _base(tmp_path, exported, [1, 2])
    spec = "model_version_policy { specific { versions: 1 versions: 2 } }"
    strict = ModelManager()
    with pytest.raises(
        ServingError,
        match=r"Request to assign label to version \d of model m, which is not "
        "currently available for inference",
    ):
        strict.reload_config(_config(base, spec, {"stable": 1, "canary": 2}))  # at start-up nothing is loaded
    manager = ModelManager(allow_labels_for_unavailable=True)
    try:
        manager.reload_config(_config(base, spec, {"stable": 1, "canary": 2}))
        assert manager.resolve("m", label="canary").version == 2
        manager.reload_config(_config(base, spec, {"stable": 2}))  # promotion: 2 is AVAILABLE
        assert manager.resolve("m", label="stable").version == 2
        with pytest.raises(ServingError, match="Unrecognized servable version label: canary"):
            manager.resolve("m", label="canary")
        with pytest.raises(ServingError, match="not currently available"):  # moving a label to an unloaded version
            manager.reload_config(_config(base, spec, {"stable": 5}))
        assert manager.labels == {"m": {"stable": 2}}  # a refused config changes nothing
    finally:
        manager.close()


def test_servable_checks_inputs(tmp_path, exported):
    from helpers.serving.local_server.servable import Servable
    from helpers.serving.local_server.status import ServingError

    servable = Servable("m", 1, exported / "1")
    with pytest.raises(ServingError, match=r"Signature input alias: x\(feed name: serving_default_x:0\) not found"):
        servable.predict("", {"y": np.ones((1, 4), np.float32)})
    with pytest.raises(ServingError, match=r"input size does not match signature: 2!=1 len\(\{x,y\}\) != len\(\{x\}\)"):
        servable.predict("", {"x": np.ones((1, 4), np.float32), "y": np.ones((1, 4), np.float32)})
    with pytest.raises(ServingError, match="Expects arg\\[0\\] to be float but double is provided"):
        servable.predict("", {"x": np.ones((1, 4))})
    with pytest.raises(ServingError, match='Serving signature key "nope" not found.'):
        servable.predict("nope", {"x": np.ones((1, 4), np.float32)})
