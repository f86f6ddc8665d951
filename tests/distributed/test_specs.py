"""The launch specs of helpers.distributed.specs: their structure, and that every task of every manager gets
the cluster and task description the local launcher gives (with the manager's addresses in place of
127.0.0.1). Each manager's own step is re-enacted as its documentation describes it: Vertex AI's worker
pools (pool 0 is the chief), the Training Operator's TF_CONFIG, Kubernetes' dependent environment variables,
and for Slurm TensorFlow's own ``SlurmClusterResolver`` run on the variables ``srun`` sets."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess

import pytest

from helpers.distributed import Cluster, cluster_of, task_configs, tasks
from helpers.distributed.specs import (
    INDEX_ANNOTATION,
    Job,
    indexed_job_addresses,
    kubeflow_tfjob,
    kubernetes_indexed_job,
    slurm_batch_script,
    tfjob_addresses,
    vertex_custom_job,
)

PROBE = "tests.support.distributed_probe"
JOB = Job("digits-mwms", 3, image="registry.example/workbook:1", workdir="/shared/run1",
          args=["--epochs", "10", "--steps-per-epoch", "50"])
COMMAND = ["python", "-m", "helpers.distributed.worker", "--workdir", "/shared/run1", "--epochs", "10",
           "--steps-per-epoch", "50"]


def relabel(configs: list[dict], addresses: list[str]) -> list[dict]:
    """``configs`` with the i-th address of their cluster (in launch order) replaced by ``addresses[i]``."""
    order = [address for kind, index in tasks(configs[0]["cluster"]) for address in
             [configs[0]["cluster"][kind][index]]]
    rename = dict(zip(order, addresses, strict=True))
    return [{"cluster": {kind: [rename[a] for a in members] for kind, members in c["cluster"].items()},
             "task": c["task"]} for c in configs]


# ---------------------------------------------------------------------- each manager's TF_CONFIG, re-enacted
def vertex_tf_configs(spec: dict) -> tuple[list[dict], list[str]]:
    """What Vertex AI writes: pool 0's replica is ``chief``, pool 1's are ``worker``s (its docs' layout)."""
    pools = spec["jobSpec"]["workerPoolSpecs"]
    addresses = [f"workerpool{p}-{i}:2222" for p, pool in enumerate(pools) for i in range(pool["replicaCount"])]
    cluster = {"chief": addresses[:1], **({"worker": addresses[1:]} if len(addresses) > 1 else {})}
    configs = [{"cluster": cluster, "task": {"type": kind, "index": i}}
               for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))]
    return configs, addresses


def tfjob_tf_configs(spec: dict, namespace: str = "default") -> list[dict]:
    """What the Training Operator v1 writes (genTFConfigJSONStr): ``<job>-<type>-<i>.<ns>.svc:<tfjob-port>``."""
    cluster = {}
    for replica_type, replica in spec["tfReplicaSpecs"].items():
        container = next(c for c in replica["template"]["spec"]["containers"] if c["name"] == "tensorflow")
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == "tfjob-port")
        kind = replica_type.lower()
        cluster[kind] = [f"{spec['name']}-{kind}-{i}.{namespace}.svc:{port}" for i in range(replica["replicas"])]
    return [{"cluster": cluster, "task": {"type": kind, "index": i}, "environment": "cloud"}
            for kind in cluster for i in range(len(cluster[kind]))]


def kubernetes_env(container: dict, index: int) -> dict[str, str]:
    """The container's environment in the pod with completion index ``index``: ``valueFrom`` the index
    annotation, then ``$(NAME)`` references to variables defined earlier expanded, as the kubelet does."""
    env: dict[str, str] = {}
    for var in container["env"]:
        if "valueFrom" in var:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{INDEX_ANNOTATION}']"
            env[var["name"]] = str(index)
        else:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), var["value"])
    return env


# ---------------------------------------------------------------------------------------------------- Job
def test_job_rejects_bad_names_and_arguments():
    with pytest.raises(ValueError, match="DNS label"):
        Job("Digits_MWMS", 2)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        Job("digits", 0)
    with pytest.raises(ValueError, match="port must be <= 65535"):
        Job("digits", 2, port=70000)
    with pytest.raises(ValueError, match="Job\\(workdir=...\\)"):
        Job("digits", 2, args=["--workdir", "/x"])
    assert JOB.command() == COMMAND


# ------------------------------------------------------------------------------------------------ Vertex AI
def test_vertex_custom_job_puts_the_chief_in_pool_0_and_the_workers_in_pool_1():
    spec = vertex_custom_job(JOB, machine_type="n2-standard-8")
    assert spec["displayName"] == "digits-mwms" and list(spec) == ["displayName", "jobSpec"]
    assert spec["jobSpec"]["scheduling"] == {"restartJobOnWorkerRestart": True}
    pools = spec["jobSpec"]["workerPoolSpecs"]
    assert [p["replicaCount"] for p in pools] == [1, 2]
    for pool in pools:
        assert pool["machineSpec"] == {"machineType": "n2-standard-8"}
        container = pool["containerSpec"]
        assert container["imageUri"] == JOB.image and container["command"] + container["args"] == COMMAND
    configs, addresses = vertex_tf_configs(spec)
    assert configs == task_configs(cluster_of(addresses, chief=True))
    assert [p["replicaCount"] for p in vertex_custom_job(Job("solo", 1))["jobSpec"]["workerPoolSpecs"]] == [1]


# ----------------------------------------------------------------------------------------------- Kubernetes
def test_indexed_job_gives_each_pod_its_own_tf_config():
    service, job = kubernetes_indexed_job(JOB, claim="runs", backoff_limit=5)
    assert (service["apiVersion"], service["kind"], job["apiVersion"], job["kind"]) == ("v1", "Service", "batch/v1",
                                                                                        "Job")
    assert service["spec"]["clusterIP"] == "None"  # headless: a DNS record per pod
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": "digits-mwms"}
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (
        "Indexed", 3, 3, 5)
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] and pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "runs"}}]
    (container,) = pod["containers"]
    assert container["command"] == COMMAND and container["image"] == JOB.image
    assert container["volumeMounts"] == [{"name": "shared", "mountPath": "/shared"}]
    assert container["ports"] == [{"name": "grpc", "containerPort": 2222}]
    assert indexed_job_addresses(JOB) == [f"digits-mwms-{i}.digits-mwms:2222" for i in range(3)]
    got = [json.loads(kubernetes_env(container, i)["TF_CONFIG"]) for i in range(3)]
    assert got == task_configs(cluster_of(indexed_job_addresses(JOB)))


def test_tfjob_is_a_legacy_v1_worker_job_whose_operator_writes_the_same_tf_config():
    spec = kubeflow_tfjob(JOB, claim="runs")
    assert (spec["apiVersion"], spec["kind"]) == ("kubeflow.org/v1", "TFJob")
    assert "legacy" in spec["metadata"]["annotations"]["helpers.distributed/note"]
    assert list(spec["spec"]["tfReplicaSpecs"]) == ["Worker"]
    worker = spec["spec"]["tfReplicaSpecs"]["Worker"]
    (container,) = worker["template"]["spec"]["containers"]
    assert container["name"] == "tensorflow" and container["command"] == COMMAND
    assert worker["template"]["spec"]["volumes"][0]["persistentVolumeClaim"] == {"claimName": "runs"}
    written = tfjob_tf_configs({"name": spec["metadata"]["name"], **spec["spec"]})
    assert [{"cluster": c["cluster"], "task": c["task"]} for c in written] == task_configs(
        cluster_of(tfjob_addresses(JOB)))


# ---------------------------------------------------------------------------------------------------- Slurm
def test_slurm_script_is_valid_bash_with_one_task_per_node():
    script = slurm_batch_script(JOB, time_limit="2-00:00:00", attempts=2, partition="cpu")
    options = dict(line[len("#SBATCH --"):].split("=", 1) for line in script.splitlines()
                   if line.startswith("#SBATCH --") and "=" in line)
    assert options["nodes"] == "3" and options["ntasks-per-node"] == "1" and options["time"] == "2-00:00:00"
    assert options["partition"] == "cpu" and "#SBATCH --requeue" in script
    (srun,) = [line.split() for line in script.splitlines() if line.strip().startswith("srun ")]
    assert srun[:2] == ["srun", "--kill-on-bad-exit=1"] and srun[-3:] == ["&&", "exit", "0"]
    assert shlex.split(" ".join(srun[2:srun.index("&&")])) == [*COMMAND, "--cluster-resolver", "slurm",
                                                                "--port", "2222"]
    assert "seq 1 2" in script
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n"], input=script, text=True, timeout=20).returncode == 0
    with pytest.raises(ValueError, match="time_limit"):
        slurm_batch_script(JOB, time_limit="one hour")


def test_slurm_cluster_resolver_gives_every_task_the_launchers_tf_config(tf_runtime, monkeypatch):
    from helpers.distributed.worker import slurm_resolver

    nodes = ["node01", "node02", "node03"]
    want = task_configs(cluster_of([f"{node}:2222" for node in nodes]))
    for rank in range(3):  # the variables srun sets for task `rank` of a 3-node, 1-task-per-node step
        monkeypatch.setenv("SLURM_PROCID", str(rank))
        monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "3")
        monkeypatch.setenv("SLURM_STEP_NODELIST", "node[01-03]")
        monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", "1(x3)")
        resolver = slurm_resolver(2222)
        got = {"cluster": resolver.cluster_spec().as_dict(), "task": {"type": resolver.task_type,
                                                                     "index": resolver.task_id}}
        assert got == want[rank]


# ------------------------------------------------------------------------------------- against the launcher
@pytest.mark.slow
def test_every_manager_gives_the_tasks_what_the_local_launcher_gives(tmp_path):
    """The TF_CONFIG the local launcher's processes really receive, with the manager's addresses in place of
    127.0.0.1, is what each manager's tasks receive."""
    launched = {}
    for chief in (False, True):
        cluster = Cluster(3, ["--sleep", "0"], log_dir=tmp_path / f"chief-{chief}", module=PROBE, chief=chief)
        assert cluster.run(timeout=30) == [0, 0, 0]
        launched[chief] = [{k: cluster.events(i)[0][k] for k in ("cluster", "task")} for i in range(3)]
    vertex, vertex_addresses = vertex_tf_configs(vertex_custom_job(JOB))
    assert relabel(launched[True], vertex_addresses) == vertex
    container = kubernetes_indexed_job(JOB)[1]["spec"]["template"]["spec"]["containers"][0]
    indexed = [json.loads(kubernetes_env(container, i)["TF_CONFIG"]) for i in range(3)]
    assert relabel(launched[False], indexed_job_addresses(JOB)) == indexed
    tfjob = tfjob_tf_configs({"name": JOB.name, **kubeflow_tfjob(JOB)["spec"]})
    assert relabel(launched[False], tfjob_addresses(JOB)) == [{k: c[k] for k in ("cluster", "task")} for c in tfjob]
