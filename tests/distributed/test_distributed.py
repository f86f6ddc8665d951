"""Unit tests of helpers.distributed (strategy choice, TF_CONFIG, the cluster launcher) and of the worker
script's resume logic. The launcher tests use tests.support.distributed_probe (no TensorFlow), so they are fast;
one test runs the real worker as a one-worker cluster, crashes it and resumes it."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from helpers import procs
from helpers.distributed import (
    STRATEGIES,
    Cluster,
    WorkerFailed,
    cluster_of,
    cluster_spec,
    is_chief,
    make_strategy,
    task_configs,
    tasks,
    tf_config,
)

PROBE = "tests.support.distributed_probe"


@pytest.fixture
def tf(tf_runtime):
    """TensorFlow as the session's ``tf_runtime`` configured it (4 logical CPUs)."""
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------------------------------------- strategies
def test_make_strategy_default_and_mirrored(tf):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert make_strategy("default") is tf.distribute.get_strategy()
    mirrored = make_strategy("mirrored", devices)
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == len(devices)


def test_make_strategy_tpu_falls_back_and_says_so(tf, capsys):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    one = make_strategy("tpu", devices[:1])
    assert one is tf.distribute.get_strategy()
    assert "TPUStrategy unavailable" in capsys.readouterr().out
    if len(devices) > 1:
        several = make_strategy("tpu", devices)
        assert isinstance(several, tf.distribute.MirroredStrategy)
        assert several.num_replicas_in_sync == len(devices)


def test_make_strategy_auto_picks_by_device_count(tf, capsys):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert make_strategy("auto", devices[:1]) is tf.distribute.get_strategy()
    assert capsys.readouterr().out == ""  # auto falls back quietly: no TPU is the normal case
    if len(devices) > 1:
        assert isinstance(make_strategy("auto", devices), tf.distribute.MirroredStrategy)


def test_make_strategy_multiworker_without_tf_config_is_local(tf, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = make_strategy("multiworker")
    assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    assert strategy.cluster_resolver.cluster_spec().as_dict() == {}


def test_make_strategy_rejects_unknown_names():
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_strategy("horovod")
    assert STRATEGIES == ("auto", "default", "mirrored", "tpu", "multiworker")


# ----------------------------------------------------------------------------------------------- TF_CONFIG
def test_cluster_spec_uses_distinct_local_ports():
    spec = cluster_spec(3)
    assert list(spec) == ["worker"] and len(spec["worker"]) == 3
    assert all(addr.startswith("127.0.0.1:") for addr in spec["worker"])
    assert len(set(spec["worker"])) == 3


def test_tf_config_names_the_task_and_is_json():
    spec = {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}
    config = tf_config(spec, "worker", 1)
    assert json.loads(json.dumps(config)) == {"cluster": spec, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match="index must be <= 1"):
        tf_config(spec, "worker", 2)
    with pytest.raises(ValueError, match="'ps' is not in the cluster"):
        tf_config(spec, "ps", 0)


def test_cluster_of_lays_out_workers_or_a_chief_and_workers():
    addresses = ["a:1", "b:2", "c:3"]
    assert cluster_of(addresses) == {"worker": addresses}
    assert cluster_of(addresses, chief=True) == {"chief": ["a:1"], "worker": ["b:2", "c:3"]}
    assert cluster_of(["a:1"], chief=True) == {"chief": ["a:1"]}
    with pytest.raises(ValueError, match="host:port"):
        cluster_of(["a"])
    with pytest.raises(ValueError, match="share an address"):
        cluster_of(["a:1", "a:1"])
    with pytest.raises(ValueError, match="at least one"):
        cluster_of([])


def test_tasks_and_task_configs_put_the_chief_first():
    spec = cluster_of(["a:1", "b:2", "c:3"], chief=True)
    assert tasks(spec) == [("chief", 0), ("worker", 0), ("worker", 1)]
    assert [c["task"] for c in task_configs(spec)] == [{"type": t, "index": i} for t, i in tasks(spec)]
    assert all(c["cluster"] == spec for c in task_configs(spec))
    with pytest.raises(ValueError, match="not used by MultiWorkerMirroredStrategy"):
        tasks({"ps": ["a:1"], "worker": ["b:2"]})


def test_is_chief_follows_tensorflows_rule():
    workers, with_chief = cluster_of(["a:1", "b:2"]), cluster_of(["a:1", "b:2"], chief=True)
    assert [is_chief(t, i, workers) for t, i in tasks(workers)] == [True, False]
    assert [is_chief(t, i, with_chief) for t, i in tasks(with_chief)] == [True, False]  # worker 0 is not


def test_cluster_spec_on_hosts_of_their_own():
    spec = cluster_spec(2, hosts=["10.213.0.1", "10.213.0.2"], chief=True)
    assert [a.rsplit(":", 1)[0] for a in spec["chief"] + spec["worker"]] == ["10.213.0.1", "10.213.0.2"]
    with pytest.raises(ValueError, match="one address per worker"):
        cluster_spec(3, hosts=["10.213.0.1"])


# ------------------------------------------------------------------------------------------------ launcher
@pytest.mark.slow
def test_cluster_runs_every_worker_with_its_own_tf_config(tmp_path):
    cluster = Cluster(3, ["--sleep", "0.1"], log_dir=tmp_path, module=PROBE)
    assert cluster.run(timeout=30) == [0, 0, 0]
    tasks = [cluster.events(i)[0]["task"] for i in range(3)]
    assert tasks == [{"type": "worker", "index": i} for i in range(3)]
    assert procs.alive(cluster.pids) == []


@pytest.mark.slow
def test_cluster_with_a_chief_names_its_tasks_by_type(tmp_path):
    cluster = Cluster(3, ["--sleep", "60", "--exit-code", "2", "--fail-task", "0", "--fail-after", "0.2"],
                      log_dir=tmp_path, module=PROBE, chief=True)
    with pytest.raises(WorkerFailed, match="chief 0 failed \\(exit code 2\\)") as failure:
        cluster.run(timeout=30)
    assert failure.value.index == 0 and failure.value.name == "chief 0"
    assert [cluster.events(i)[0]["task"] for i in range(3)] == [{"type": t, "index": i} for t, i in tasks(cluster.spec)]
    assert [cluster.events(i)[0]["cluster"] for i in range(3)] == [cluster.spec] * 3
    assert procs.alive(cluster.pids) == []
    with pytest.raises(ValueError, match="netns must list one entry per worker"):
        Cluster(2, netns=["only-one"])


@pytest.mark.slow
def test_a_failing_worker_stops_the_others_fast(tmp_path):
    args = ["--sleep", "60", "--exit-code", "3", "--fail-task", "1", "--fail-after", "0.2"]
    cluster = Cluster(2, args, log_dir=tmp_path, module=PROBE).start()  # worker 0 would sleep a minute
    began = time.monotonic()
    with pytest.raises(WorkerFailed, match="worker 1 failed \\(exit code 3\\)") as failure:
        cluster.wait(timeout=30)
    assert time.monotonic() - began < 15
    assert '"index": 1' in failure.value.log_tail
    assert cluster.alive() == [] and procs.alive(cluster.pids) == []


@pytest.mark.slow
def test_kill_then_restart_gives_fresh_ports_and_no_leftovers(tmp_path):
    cluster = Cluster(2, ["--sleep", "60"], log_dir=tmp_path, module=PROBE)
    with cluster:
        cluster.start()
        first_pids, first_spec = cluster.pids, cluster.spec
        time.sleep(0.3)
        cluster.kill(1)
        with pytest.raises(WorkerFailed, match="killed by signal 9"):
            cluster.wait(timeout=20)
        assert procs.alive(first_pids) == []
        cluster.restart(["--sleep", "0.1"])
        assert cluster.launches == 2 and cluster.pids != first_pids and cluster.spec != first_spec
        assert cluster.wait(timeout=30) == [0, 0]
    assert procs.alive(first_pids + cluster.pids) == []


@pytest.mark.slow
def test_timeout_and_stubborn_workers_are_killed(tmp_path):
    cluster = Cluster(2, ["--sleep", "60", "--ignore-sigterm"], log_dir=tmp_path, module=PROBE)
    cluster.start()
    time.sleep(0.5)  # let the probes install their SIGTERM handler
    with pytest.raises(TimeoutError, match="did not finish within 1 s"):
        cluster.wait(timeout=1)
    assert procs.alive(cluster.pids) == []


@pytest.mark.slow
def test_context_manager_stops_workers_on_error(tmp_path):
    with pytest.raises(KeyboardInterrupt), Cluster(2, ["--sleep", "60"], log_dir=tmp_path,
                                                   module=PROBE) as cluster:
        cluster.start()
        raise KeyboardInterrupt  # what a learner pressing "interrupt kernel" sends
    assert procs.alive(cluster.pids) == []
    with pytest.raises(RuntimeError, match="already running"):
        cluster.start().start()
    cluster.stop()


@pytest.mark.slow
def test_workers_die_with_a_killed_launcher(tmp_path):
    """A launcher killed with SIGKILL (a crashed kernel: no finally, no atexit) leaves no worker behind."""
    with Cluster(1, ["--spawn", "2", "--sleep", "600"], log_dir=tmp_path, module=PROBE) as outer:
        outer.start()
        deadline = time.monotonic() + 20
        while not any(e["event"] == "spawned" for e in outer.events(0)) and time.monotonic() < deadline:
            time.sleep(0.1)
        inner_pids = next(e["pids"] for e in outer.events(0) if e["event"] == "spawned")
        assert len(procs.alive(inner_pids)) == 2
        outer.kill(0)
    deadline = time.monotonic() + 10
    while procs.alive(inner_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs.alive(inner_pids) == []



def _probe_launcher(tmp_path, workers, started):
    """A ``launch`` as notebook 02 writes one: each worker a process with the TF_CONFIG built here."""
    def launch(args):
        cluster = {"worker": [f"127.0.0.1:{port}" for port in procs.free_ports(workers)]}
        for index in range(workers):
            env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                                       "index": index}})}
            started.append(procs.start(PROBE, args, env=env, log=tmp_path / f"own-{len(started)}.log",
                                       name=f"worker {index}"))
        return started[-workers:]
    return launch


@pytest.mark.slow
def test_a_cluster_with_the_callers_launch_keeps_the_harness(tmp_path):
    started = []
    cluster = Cluster(2, ["--sleep", "60", "--exit-code", "3", "--fail-task", "1", "--fail-after", "0.2"],
                      launch=_probe_launcher(tmp_path, 2, started))
    with pytest.raises(WorkerFailed, match="worker 1 failed \\(exit code 3\\)") as failure:
        cluster.run(timeout=30)
    assert failure.value.index == 1 and cluster.pids == [c.pid for c in started]
    assert cluster.log_path(0) == tmp_path / "own-0.log" and cluster.events(1)[0]["task"]["index"] == 1
    assert procs.alive(cluster.pids) == [] and cluster.spec == {}
    assert cluster.restart(["--sleep", "0.1"]).wait(timeout=30) == [0, 0]
    assert cluster.launches == 2 and cluster.log_path(1) == tmp_path / "own-3.log"
    assert procs.alive([c.pid for c in started]) == []


@pytest.mark.slow
def test_a_launch_that_fails_or_miscounts_leaves_nothing_running(tmp_path):
    started = []
    too_few = Cluster(3, ["--sleep", "60"], launch=_probe_launcher(tmp_path, 2, started))
    with pytest.raises(ValueError, match="launch started 2 worker\\(s\\); the cluster has 3"):
        too_few.start()
    assert len(started) == 2 and procs.alive([c.pid for c in started]) == []


@pytest.mark.slow
def test_settle_lets_the_other_workers_end_on_their_own(tmp_path):
    args = ["--sleep", "1", "--exit-code", "3", "--fail-task", "1", "--fail-after", "0.1"]
    hasty = Cluster(2, args, log_dir=tmp_path / "hasty", module=PROBE)
    with pytest.raises(WorkerFailed):
        hasty.run(timeout=30)
    assert hasty.children[0].returncode == -15  # worker 0 was stopped (SIGTERM) before its second was up
    patient = Cluster(2, args, log_dir=tmp_path / "patient", module=PROBE)
    with pytest.raises(WorkerFailed):
        patient.run(timeout=30, settle=20)
    assert patient.children[0].returncode == 0  # it ended on its own, well before the 20 s


# ------------------------------------------------------------------------------------------------- worker
def test_epoch_dataset_is_deterministic_per_epoch(tf):
    from helpers.distributed.worker import epoch_dataset

    x, y = np.arange(40, dtype="float32").reshape(20, 2), np.arange(20)
    first = [b[1].numpy().tolist() for b in epoch_dataset(x, y, 1, 4, 3, seed=0)]
    again = [b[1].numpy().tolist() for b in epoch_dataset(x, y, 1, 4, 3, seed=0)]
    other = [b[1].numpy().tolist() for b in epoch_dataset(x, y, 2, 4, 3, seed=0)]
    assert first == again != other
    assert len(first) == 3 and all(len(batch) == 4 for batch in first)


@pytest.mark.slow
def test_real_worker_crashes_then_resumes_from_its_checkpoint(tmp_path):
    """One real TensorFlow worker (a one-worker cluster): killed in epoch 2, restarted, resumed at 1."""
    args = ["--workdir", str(tmp_path / "job"), "--epochs", "2", "--steps-per-epoch", "2",
            "--batch-size", "8", "--units", "8"]
    with Cluster(1, [*args, "--crash-after-epoch", "1", "--crash-task", "0"], log_dir=tmp_path) as cluster:
        with pytest.raises(WorkerFailed, match=f"killed by signal {int(signal.SIGKILL)}"):
            cluster.run(timeout=120)
        assert [e["event"] for e in cluster.events(0)] == ["start", "epoch", "crash"]
        cluster.restart(args)
        cluster.wait(timeout=120)
        start, *_, done = cluster.events(0)
    assert start["start_epoch"] == 1 and start["resumed_from"] == "ckpt-1"
    assert done == {"event": "done", "task": 0, "start_epoch": 1, "final_epoch": 2, "epochs_run": 1}
    assert (tmp_path / "job" / "model" / "final.keras").exists()
    assert os.path.exists(tmp_path / "job" / "weights" / "worker-0.npz")
    assert procs.alive(cluster.pids) == []
