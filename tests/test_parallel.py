"""Unit tests of helpers.parallel (notebook 06): device choice, placement, GPipe schedules, DTensor bytes."""

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from helpers import parallel
from helpers.parallel import Task

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs

tf = parallel.tf
dtensor = parallel.dtensor

ROOT = Path(__file__).resolve().parents[1]

# tests/conftest.py configures 4 logical CPUs for the session, before TensorFlow starts.


def _logical_cpus():
    return [d.name for d in tf.config.list_logical_devices("CPU")]


@pytest.fixture(scope="module")
def two_devices():
    assert len(_logical_cpus()) >= 2, "tests/conftest.py should have configured 4 logical CPUs"
    return parallel.device_map(2)


def test_pick_devices_prefers_gpus_then_cpus():
    gpus, cpus = ["/device:GPU:0", "/device:GPU:1"], ["/device:CPU:0", "/device:CPU:1", "/device:CPU:2"]
    assert parallel.pick_devices(gpus, cpus, 2) == gpus
    assert parallel.pick_devices(gpus[:1], cpus, 2) == cpus[:2]
    assert parallel.pick_devices([], cpus, 3) == cpus
    with pytest.raises(ValueError, match="4 devices needed"):
        parallel.pick_devices(gpus, cpus, 4)
    with pytest.raises(ValueError, match="count"):
        parallel.pick_devices(gpus, cpus, 0)


def test_short_device_and_choose_accelerator():
    assert parallel.short_device("/job:localhost/replica:0/task:0/device:CPU:1") == "CPU:1"
    assert parallel.short_device("/device:GPU:0") == "GPU:0"
    assert parallel.short_device("") == ""
    want = "auto" if len(tf.config.list_physical_devices("GPU")) >= 2 else "cpu"
    assert parallel.choose_accelerator() == want


def test_placement_of_variables_tensors_and_keras_layers(two_devices):
    import keras

    first, second = two_devices
    with tf.device(second):
        var = tf.Variable(tf.ones((3, 2)))
        layer = keras.layers.Dense(4, name="placed")
        out = layer(tf.ones((1, 3)))
    assert parallel.on_device(var, second) and not parallel.on_device(var, first)
    assert parallel.on_device(layer.kernel, second)  # a Keras 3 variable, via .value
    assert parallel.on_device(out, second)
    rows = parallel.placement_table(layer.weights)
    assert [r["shape"] for r in rows] == [(3, 4), (4,)]
    assert {r["device"] for r in rows} == {parallel.short_device(second)}


def test_micro_batch_slices_cover_the_batch():
    for batch, micro in [(10, 3), (64, 4), (5, 5), (7, 1)]:
        slices = parallel.micro_batch_slices(batch, micro)
        sizes = [s.stop - s.start for s in slices]
        assert len(slices) == micro and sum(sizes) == batch and max(sizes) - min(sizes) <= 1
        assert slices[0].start == 0 and all(a.stop == b.start for a, b in pairwise(slices))
    for bad in (0, 11):
        with pytest.raises(ValueError, match="micro_batches"):
            parallel.micro_batch_slices(10, bad)


@pytest.mark.parametrize("stages,micro", [(2, 1), (2, 4), (4, 8)])
def test_gpipe_with_equal_times_has_the_textbook_bubble(stages, micro):
    tasks = parallel.gpipe_schedule(np.ones((stages, micro)), np.ones((stages, micro)))
    summary = parallel.schedule_summary(tasks)
    assert len(tasks) == 2 * stages * micro
    assert summary["makespan_s"] == pytest.approx(2 * (micro + stages - 1))
    assert summary["bubble_fraction"] == pytest.approx(parallel.ideal_bubble_fraction(stages, micro))
    assert summary["busy_s"] == [pytest.approx(2 * micro)] * stages


def test_gpipe_respects_dependencies_with_uneven_times():
    rng = np.random.default_rng(0)
    fwd, bwd = rng.uniform(0.1, 1, (3, 5)), rng.uniform(0.1, 2, (3, 5))
    tasks = parallel.gpipe_schedule(fwd, bwd)
    end = {(t.stage, t.micro, t.phase): t.end for t in tasks}
    for t in tasks:
        assert t.end - t.start == pytest.approx((fwd if t.phase == "F" else bwd)[t.stage, t.micro])
        if t.phase == "F" and t.stage > 0:
            assert t.start >= end[(t.stage - 1, t.micro, "F")]
        if t.phase == "B":
            before = (t.stage + 1, t.micro, "B") if t.stage < 2 else (t.stage, t.micro, "F")
            assert t.start >= end[before]
    for s in range(3):  # a stage runs one task at a time
        mine = sorted((t.start, t.end) for t in tasks if t.stage == s)
        assert all(a[1] <= b[0] + 1e-12 for a, b in pairwise(mine))
    bars = parallel.timeline_bars(tasks)
    assert sorted(bars) == [0, 1, 2] and all(len(v) == 10 for v in bars.values())
    assert bars[0][0] == (0.0, pytest.approx(fwd[0, 0]), "F0", "F")
    with pytest.raises(ValueError, match="stages, micro_batches"):
        parallel.gpipe_schedule(fwd, bwd[:, :2])


def test_schedule_summary_counts_idle_time():
    tasks = [Task(0, 0, "F", 0.0, 1.0), Task(1, 0, "F", 1.0, 2.0)]
    summary = parallel.schedule_summary(tasks)
    assert summary["makespan_s"] == 2.0 and summary["bubble_fraction"] == pytest.approx(0.5)


def test_dtensor_sharded_kernel_bytes_and_values(two_devices):
    mesh = parallel.make_mesh(two_devices)
    kernel = np.arange(24, dtype="float32").reshape(4, 6)
    replicated = dtensor.Layout.replicated(mesh, rank=2)
    sharded = dtensor.Layout([dtensor.UNSHARDED, "model"], mesh)
    full = dtensor.DVariable(dtensor.copy_to_mesh(tf.constant(kernel), replicated))
    split = dtensor.DVariable(dtensor.relayout(dtensor.copy_to_mesh(tf.constant(kernel), replicated), sharded))
    assert parallel.shard_shapes(full) == [(4, 6), (4, 6)]
    assert parallel.shard_shapes(split) == [(4, 3), (4, 3)]
    assert not parallel.is_sharded(full) and parallel.is_sharded(split)
    assert not parallel.is_sharded(tf.Variable(kernel))
    names = [parallel.short_device(d) for d in two_devices]
    assert parallel.bytes_per_device([full]) == dict.fromkeys(names, 96)
    assert parallel.bytes_per_device([split]) == dict.fromkeys(names, 48)
    np.testing.assert_array_equal(parallel.to_numpy(split), kernel)
    product = tf.matmul(dtensor.copy_to_mesh(tf.ones((2, 4)), replicated), split)
    np.testing.assert_allclose(parallel.to_numpy(product), np.ones((2, 4)) @ kernel)
    np.testing.assert_array_equal(parallel.to_numpy(tf.constant(kernel)), kernel)


def test_bytes_per_device_for_mirrored_and_plain_variables(two_devices):
    strategy = tf.distribute.MirroredStrategy(two_devices)
    with strategy.scope():
        mirrored = tf.Variable(tf.zeros((5, 2)))
    with tf.device(two_devices[1]):
        plain = tf.Variable(tf.zeros((3,), dtype="float64"))
    names = [parallel.short_device(d) for d in two_devices]
    assert parallel.bytes_per_device([mirrored]) == dict.fromkeys(names, 40)
    assert parallel.bytes_per_device([mirrored, plain]) == {names[0]: 40, names[1]: 64}
    assert len(parallel.components(mirrored)) == 2


def test_native_stdout_collects_descriptor_1_and_restores_it(capfd):
    import os

    with parallel.native_stdout() as lines:
        os.write(1, b"written by native code\nsecond line\n")
        assert lines == []  # filled when the block ends
    assert lines == ["written by native code", "second line"]
    os.write(1, b"after the block\n")
    assert capfd.readouterr().out == "after the block\n"


def _fresh(tmp_path, *args):
    import json
    import os

    from helpers import procs

    out = tmp_path / "found.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTENSOR_")}
    handle = procs.start("helpers.parallel", [*args, "--out", out], log=tmp_path / "fresh.log", name="fresh", env=env)
    assert handle.process.wait(timeout=180) == 0, handle.tail()
    return json.loads(out.read_text())


@pytest.mark.slow
def test_dtensor_start_up_after_the_runtime_started_needs_the_reset(tmp_path):
    found = _fresh(tmp_path, "--devices", "2", "--list-devices-first")
    assert "Accelerators are uninitialized" in found["refusals"]["create_distributed_mesh before start-up"]
    assert "already been initialized" in found["refusals"]["initialize_accelerator_system after list_logical_devices"]
    assert found["experimental_reset_context"] and found["mesh_shape"] == {"model": 2}
    assert found["max_gap_vs_numpy"] < 1e-4


@pytest.mark.slow
def test_placement_log_of_the_starter_snippet_in_a_fresh_process(tmp_path):
    lines = _fresh(tmp_path, "--placement-log")["placement_lines"]
    op_types = {line.split(":")[0] for line in lines}
    assert {"VarHandleOp", "MatMul", "BiasAdd", "Relu", "Softmax"} <= op_types
    assert all("/device:" in line for line in lines)
