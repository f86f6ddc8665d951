"""helpers.plots: each diagram shows the run's real set-up (its labelled texts), refuses bad arguments with a
message naming the problem, has no overlapping text, saves to PNG, agrees with DTensor on who holds which
shard, and shows up as an embedded PNG in the run report's HTML of an executed notebook."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from io import BytesIO

import matplotlib

matplotlib.use("Agg")

import nbformat
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from nbformat.v4 import new_code_cell, new_notebook

from helpers import plots, report

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs

CPUS = [f"/job:localhost/replica:0/task:0/device:CPU:{i}" for i in range(8)]
AB = {"mnist": {"versions": [1, 2], "labels": {"stable": 1, "canary": 2}}}


@dataclass
class Batching:  # the fields of helpers.serving's BatchingParameters that the queue prints
    max_batch_size: int = 32
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 32
    num_batch_threads: int = 1


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text().strip()]


def joined(fig: Figure) -> str:
    return "\n".join(texts(fig))


EXAMPLES = {
    "allreduce 1": lambda: plots.allreduce_diagram(1),
    "allreduce 4": lambda: plots.allreduce_diagram(4, per_replica_batch=32, devices=CPUS[:4]),
    "allreduce 16 mean": lambda: plots.allreduce_diagram(16, per_replica_batch=256, reduce="mean"),
    "mesh 1-D": lambda: plots.mesh_layout_diagram([("model", 4)], (64, 64), ["unsharded", "model"], CPUS[:4],
                                                  tensor_name="hidden/kernel"),
    "mesh 2-D": lambda: plots.mesh_layout_diagram([("batch", 2), ("model", 2)], (8, 6), ["unsharded", "model"],
                                                  CPUS[:4]),
    "mesh rank 1": lambda: plots.mesh_layout_diagram({"model": 8}, (64,), ["model"], CPUS),
    "mesh wide": lambda: plots.mesh_layout_diagram([("model", 32)], (16, 64), ["unsharded", "model"]),
    "serving": lambda: plots.serving_topology_diagram(AB, batching=Batching()),
    "serving two models": lambda: plots.serving_topology_diagram(
        {**AB, "digits_raw": {"versions": [1, 2, 3], "labels": {"stable": 3, "canary": 3}}}, batching=True,
        rest="127.0.0.1:40123", grpc="127.0.0.1:40124"),
    "serving no batching": lambda: plots.serving_topology_diagram(AB, batching=False),
    "serving gRPC only": lambda: plots.serving_topology_diagram({"my_model": {"versions": [2]}}, Batching(), rest=None),
    "tuner 2": lambda: plots.tuner_diagram(2, max_trials=5, oracle_port=40125),
    "tuner 12": lambda: plots.tuner_diagram(12, tuner="hyperband", refit=False),
}


def test_allreduce_shows_every_replica_its_slice_and_the_reduction():
    fig = plots.allreduce_diagram(4, per_replica_batch=32, devices=CPUS[:4])
    assert isinstance(fig, Figure)
    shown = joined(fig)
    for i in range(4):
        assert f"replica {i}\nCPU:{i}\n" in shown and f"→ gradients g{i}" in shown
        assert f"rows {32 * i}–{32 * i + 31}" in texts(fig)
    assert "global batch of 128 rows = 4 replicas × 32 rows" in texts(fig)
    assert "all-reduce (sum): g = g0 + g1 + g2 + g3" in shown
    assert "Synchronous data parallelism: one training step on 4 replicas" in texts(fig)  # the title


def test_allreduce_elides_many_replicas_and_can_mean():
    shown = joined(plots.allreduce_diagram(16, reduce="mean"))
    assert "replica 15" in shown and "replica 3" in shown and "replica 4\n" not in shown and "…" in shown
    assert "all-reduce (mean): g = (g0 + g1 + … + g15) / 16" in shown


@pytest.mark.parametrize("kwargs, message", [
    ({"num_replicas": 0}, "num_replicas must be an integer >= 1, got 0"),
    ({"num_replicas": 2.5}, "num_replicas"),
    ({"num_replicas": True}, "num_replicas"),
    ({"num_replicas": 4, "devices": CPUS[:3]}, "3 device names given for num_replicas of 4 devices"),
    ({"num_replicas": 2, "reduce": "max"}, "reduce must be 'sum' or 'mean'"),
    ({"num_replicas": 2, "per_replica_batch": 0}, "per_replica_batch"),
])
def test_allreduce_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plots.allreduce_diagram(**kwargs)


def test_mesh_layout_labels_each_shard_with_its_devices_and_shape():
    fig = plots.mesh_layout_diagram([("model", 4)], (64, 64), ["unsharded", "model"], CPUS[:4],
                                    tensor_name="hidden/kernel")
    shown = texts(fig)
    for i in range(4):
        assert f"CPU:{i}\n64×16" in shown  # the shard in the tensor grid
        assert f"CPU:{i}\n({i})" in shown  # the device in the mesh
    assert "hidden/kernel: layout ['unsharded', 'model']" in shown
    assert "axis 1 (64 columns): sharded on 'model': 4 shards of 16" in shown
    assert "axis 0 (64 rows): unsharded" in shown and "mesh model=4" in shown


def test_mesh_layout_replicates_over_the_unused_mesh_dimension():
    fig = plots.mesh_layout_diagram([("batch", 2), ("model", 2)], (8, 6), ["unsharded", "model"], CPUS[:4])
    shown = texts(fig)
    assert "CPU:0\nCPU:2\n8×3" in shown and "CPU:1\nCPU:3\n8×3" in shown  # devices with the same 'model' index
    assert "CPU:3\n(1, 1)" in shown and "mesh batch=2 × model=2" in shown
    assert any("does not use 'batch'" in t for t in shown)
    assert plots.shard_holders({"batch": 2, "model": 2}, (8, 6), ["batch", "model"]) == {
        (0, 0): [0], (0, 1): [1], (1, 0): [2], (1, 1): [3]}


@pytest.mark.parametrize("mesh, shape, layout, message", [
    ([("model", 4)], (8, 8), ["unsharded", "batch"], "layout names mesh dimension 'batch', which the mesh does not"),
    ([("model", 4)], (30, 30), ["unsharded", "model"], "tensor axis 1 has size 30, not divisible by mesh dimension "
                                                       "'model' of size 4"),
    ([("model", 4)], (8, 8), ["model"], "has 1 entries, but the tensor has rank 2"),
    ([("a", 2), ("b", 2)], (8, 8), ["a", "a"], "mesh dimension 'a' shards two tensor axes"),
    ([("a", 2), ("a", 2)], (8, 8), ["a", "unsharded"], "mesh dimension name 'a' is used twice"),
    ([("model", 0)], (8,), ["model"], "size of mesh dimension 'model' must be an integer >= 1"),
    ([("a", 2), ("b", 2), ("c", 2)], (8,), ["a"], "draws meshes of 1 or 2 dimensions, got 3"),
    ([("model", 2)], (2, 2, 2), ["model", "unsharded", "unsharded"], "draws tensors of rank 1 or 2"),
    ([("model", 2)], (8, 0), ["model", "unsharded"], r"tensor_shape\[1\] must be an integer >= 1"),
    (["model"], (8,), ["model"], "must be a \\(name, size\\) pair"),
])
def test_mesh_layout_bad_arguments(mesh, shape, layout, message):
    with pytest.raises(ValueError, match=message):
        plots.mesh_layout_diagram(mesh, shape, layout)


def test_mesh_layout_needs_a_name_per_device():
    with pytest.raises(ValueError, match="2 device names given for a mesh of 4 devices"):
        plots.mesh_layout_diagram([("model", 4)], (8,), ["model"], devices=CPUS[:2])


@pytest.mark.parametrize("mesh, shape, layout", [
    ([("model", 4)], (8, 8), ["unsharded", "model"]),
    ([("model", 4)], (8, 4), ["model", "unsharded"]),
    ([("model", 4)], (8,), ["unsharded"]),
    ([("batch", 2), ("model", 2)], (4, 6), ["unsharded", "model"]),
    ([("batch", 2), ("model", 2)], (4, 6), ["model", "batch"]),
    ([("batch", 2), ("model", 2)], (4, 6), ["batch", "unsharded"]),
])
def test_shard_holders_agree_with_dtensor(mesh, shape, layout):
    """The diagram's placement is DTensor's: each device's piece (dtensor.unpack) is the block drawn for it."""
    import tensorflow as tf
    from tensorflow.experimental import dtensor

    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:4]
    if len(devices) < 4:
        pytest.skip("needs the 4 logical CPUs tests/conftest.py configures")
    dtensor_mesh = dtensor.create_mesh(mesh, devices=devices)
    value = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    replicated = dtensor.copy_to_mesh(tf.constant(value), dtensor.Layout.replicated(dtensor_mesh, rank=len(shape)))
    pieces = dtensor.unpack(dtensor.relayout(replicated, dtensor.Layout(layout, dtensor_mesh)))
    splits = [1 if spec == "unsharded" else dict(mesh)[spec] for spec in layout]
    holders = plots.shard_holders(mesh, shape, layout)
    assert sorted(d for held in holders.values() for d in held) == list(range(4))
    for block, held in holders.items():
        part = value[tuple(slice(b * n // k, (b + 1) * n // k) for b, n, k in zip(block, shape, splits, strict=True))]
        for d in held:
            np.testing.assert_array_equal(pieces[d].numpy(), part)


def test_serving_topology_shows_ports_models_versions_labels_and_the_queue():
    fig = plots.serving_topology_diagram(AB, batching=Batching())
    shown = texts(fig)
    assert {"version 1", "version 2", "stable", "canary", "model 'mnist'"} <= set(shown)
    assert "REST API\n:8501\n/v1/models/…" in shown and "gRPC API\n:8500\nPredict, …" in shown
    assert "batching queue\nmax_batch_size=32\nbatch_timeout_micros=0\nmax_enqueued_batches=32" in shown
    assert "Serving: clients → API ports → model server → model versions" in shown


def test_serving_topology_without_batching_and_with_shared_labels():
    fig = plots.serving_topology_diagram({"m": {"versions": [1, 2], "labels": {"stable": 2, "canary": 2}}},
                                         batching=False, rest="127.0.0.1:40123", grpc="127.0.0.1:40124")
    shown = joined(fig)
    assert "batching queue" not in shown and "--enable_batching" not in shown
    assert "stable, canary" in shown and "127.0.0.1:40123" in shown and "127.0.0.1:40124" in shown
    assert "batching queue" in joined(plots.serving_topology_diagram(AB))  # batching=True: a queue, no parameters


@pytest.mark.parametrize("models, message", [
    ({}, "models must be a non-empty dict"),
    ({"m": {"versions": [1, 2], "labels": {"canary": 3}}}, r"label 'canary' of model 'm' points to version 3, "
                                                           r"which is not served \(versions \[1, 2\]\)"),
    ({"m": {"versions": []}}, "model 'm' needs distinct versions"),
    ({"m": {"versions": [1, 1]}}, "model 'm' needs distinct versions"),
    ({"m": {"versions": [-1]}}, "model 'm' version must be an integer >= 0"),
    ({"m": {"version": [1]}}, "model 'm' needs a dict with 'versions'"),
    ({"m": {"versions": [1], "policy": "latest"}}, "model 'm' needs a dict with 'versions'"),
])
def test_serving_topology_bad_arguments(models, message):
    with pytest.raises(ValueError, match=message):
        plots.serving_topology_diagram(models)


def test_serving_topology_bad_batching_or_no_api():
    with pytest.raises(ValueError, match="batching must be True, False or the batching parameters"):
        plots.serving_topology_diagram(AB, batching="yes")
    with pytest.raises(ValueError, match="rest and grpc are both None"):
        plots.serving_topology_diagram(AB, rest=None, grpc=None)


def test_serving_topology_of_a_grpc_only_server():
    shown = joined(plots.serving_topology_diagram({"my_model": {"versions": [2]}}, rest=None, grpc="127.0.0.1:9"))
    assert "gRPC API\n127.0.0.1:9" in shown and "REST" not in shown


def test_tuner_diagram_shows_the_chief_the_workers_and_the_variables():
    fig = plots.tuner_diagram(3, tuner="bayesian", max_trials=5, oracle_port=40125)
    shown = joined(fig)
    for i in range(3):
        assert f"KERASTUNER_TUNER_ID\n= tuner{i}" in shown
    for needed in ["chief: KERASTUNER_TUNER_ID=chief", "KERASTUNER_ORACLE_IP=127.0.0.1",
                   "KERASTUNER_ORACLE_PORT=40125", "oracle: BayesianOptimizationOracle, max_trials=5",
                   "gRPC server on 127.0.0.1:40125", "create_trial", "update_trial, end_trial", "refit"]:
        assert needed in shown, needed
    assert "refit" not in joined(plots.tuner_diagram(2, refit=False))
    many = joined(plots.tuner_diagram(12))
    assert "= tuner11" in many and "= tuner4\n" not in many and "…" in many


@pytest.mark.parametrize("kwargs, message", [
    ({"num_workers": 0}, "num_workers must be an integer >= 1"),
    ({"num_workers": 2, "tuner": "grid"}, "tuner must be one of"),
    ({"num_workers": 2, "max_trials": 0}, "max_trials must be an integer >= 1"),
    ({"num_workers": 2, "oracle_port": "8000"}, "oracle_port must be an integer"),
])
def test_tuner_diagram_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.tuner_diagram(**kwargs)


@pytest.mark.parametrize("name", EXAMPLES)
def test_png_and_no_overlapping_text(name):
    """Readable at notebook width: no two texts overlap, all lie inside the figure, and it saves as PNG."""
    fig = EXAMPLES[name]()
    assert isinstance(fig, Figure) and fig.get_figwidth() == 9
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text) if t.get_text().strip()]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), (a, b)
    for text, box in boxes:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, text
    buffer = BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    assert fig._repr_png_().startswith(b"\x89PNG")  # how IPython shows it where no backend registered a formatter


def test_diagrams_are_not_registered_with_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.allreduce_diagram(2)
    assert plt.get_fignums() == before  # nothing for the caller to close, nothing shown twice by inline


@pytest.mark.notebook
def test_the_run_report_shows_a_diagram(tmp_path):
    """One small kernel: a diagram as a cell's last expression, without and with %matplotlib inline, is one
    embedded PNG each in the HTML that helpers.report.render_notebook writes for the run report."""
    from nbclient import NotebookClient

    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb = new_notebook(cells=[new_code_cell("from helpers import plots\nplots.allreduce_diagram(2)"),
                             new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                                           "plots.tuner_diagram(2)")], metadata=kernel)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "diagram.ipynb"
    nbformat.write(nb, path)
    page = report.render_notebook(path, tmp_path / "diagram.html").read_text()
    for cell in nb.cells:
        pngs = [o["data"]["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == 1, cell.outputs  # shown once
        assert f"data:image/png;base64,{pngs[0].strip()[:200]}" in page
