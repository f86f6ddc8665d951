"""Launch specs for cluster managers, from the same cluster description as the local launcher.

Each function takes a :class:`Job` (the worker command, how many tasks, where the shared work folder is)
and returns what you hand to the manager; the addresses are those the manager gives its tasks, and every
``TF_CONFIG`` involved comes from :mod:`helpers.distributed.cluster`, as the local :class:`Cluster`'s does:

* :func:`vertex_custom_job`: a Vertex AI ``CustomJob`` body (REST ``projects.locations.customJobs.create``):
  worker pool 0 is the chief, pool 1 the other workers; Vertex AI writes each replica's ``TF_CONFIG``.
* :func:`kubernetes_indexed_job`: a headless ``Service`` and a ``batch/v1`` ``Job`` with
  ``completionMode: Indexed``; no operator needed: each pod's ``TF_CONFIG`` is built from its index.
* :func:`kubeflow_tfjob`: a Kubeflow Training Operator v1 ``TFJob`` (legacy: Kubeflow Trainer v2 has no
  TensorFlow runtime); the operator writes ``TF_CONFIG``.
* :func:`slurm_batch_script`: an ``sbatch`` script; every task builds its cluster with TensorFlow's
  ``SlurmClusterResolver`` (``--cluster-resolver slurm``).

Nothing here talks to a cluster; the tests check each spec's structure and the ``TF_CONFIG`` every task gets.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers.distributed.cluster import WORKER_MODULE, cluster_of, tf_config
from helpers.params import check_int

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC 1035 label, what Kubernetes names need
INDEX_VARIABLE = "TASK_INDEX"  # the indexed Job's pod index, from the annotation the Job controller sets
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
INDEX_PLACEHOLDER = 987654321  # stands for the index while TF_CONFIG is written, then becomes $(TASK_INDEX)
SHARED_MOUNT = "/shared"


@dataclass(frozen=True)
class Job:
    """One training job: ``workers`` tasks running ``python -m module --workdir workdir *args``.

    ``name`` names the job's resources (a DNS label: lower case, digits and '-'); ``port`` is every task's
    gRPC port; ``workdir`` must be storage every task reaches (a Cloud Storage FUSE path on Vertex AI, a
    shared volume on Kubernetes, a network file system on Slurm): the checkpoints a restart resumes from
    live there.
    """

    name: str
    workers: int
    image: str = "python:3.11"
    workdir: str = f"{SHARED_MOUNT}/run1"
    args: Sequence[str] = field(default_factory=tuple)
    port: int = 2222
    module: str = WORKER_MODULE
    python: str = "python"

    def __post_init__(self):
        if not DNS_LABEL.match(self.name) or len(self.name) > 40:
            raise ValueError(f"job name must be a DNS label of at most 40 characters (a-z, 0-9, '-'), "
                             f"got {self.name!r}")
        check_int("workers", self.workers, 1)
        check_int("port", self.port, 1, 65535)
        if "--workdir" in self.args:
            raise ValueError("give the work folder as Job(workdir=...), not in args")
        object.__setattr__(self, "args", tuple(str(a) for a in self.args))

    def command(self, *extra: str) -> list[str]:
        """The command every task runs."""
        return [self.python, "-m", self.module, "--workdir", self.workdir, *self.args, *extra]


# ------------------------------------------------------------------------------------------------ Vertex AI
def vertex_custom_job(job: Job, machine_type: str = "n1-standard-4") -> dict[str, Any]:
    """A Vertex AI ``CustomJob`` (API v1) with the chief in worker pool 0 and the other workers in pool 1.

    Vertex AI writes ``TF_CONFIG`` for every replica, the first pool's as ``chief`` and the second's as
    ``worker`` (``Cluster(..., chief=True)`` gives the same layout locally). Submit it with
    ``gcloud ai custom-jobs create --region=REGION --config=FILE`` (the ``jobSpec`` part) or the REST API.
    Vertex AI mounts Cloud Storage buckets under ``/gcs/``: a ``workdir`` there is shared by every replica.
    ``scheduling.restartJobOnWorkerRestart`` restarts the whole job when one replica restarts.
    """
    command = job.command()

    def pool(replicas: int) -> dict[str, Any]:
        return {"machineSpec": {"machineType": machine_type}, "replicaCount": replicas,
                "containerSpec": {"imageUri": job.image, "command": command[:3], "args": command[3:]}}

    pools = [pool(1)] + ([pool(job.workers - 1)] if job.workers > 1 else [])
    # The strategy cannot go on without a worker: when one restarts, every replica must, and resume together.
    return {"displayName": job.name,
            "jobSpec": {"workerPoolSpecs": pools, "scheduling": {"restartJobOnWorkerRestart": True}}}


# ----------------------------------------------------------------------------------------------- Kubernetes
def indexed_job_addresses(job: Job) -> list[str]:
    """The pods of :func:`kubernetes_indexed_job`: ``<name>-<index>.<name>`` (pod host name and the headless
    Service as subdomain, resolvable inside the namespace), in index order."""
    return [f"{job.name}-{i}.{job.name}:{job.port}" for i in range(job.workers)]


def indexed_job_tf_config(job: Job) -> str:
    """The ``TF_CONFIG`` value of every pod of the indexed Job: the cluster, and ``$(TASK_INDEX)`` as the
    task index, which Kubernetes replaces with the pod's index (a dependent environment variable)."""
    config = tf_config(cluster_of(indexed_job_addresses(job)), "worker", 0)
    config["task"]["index"] = INDEX_PLACEHOLDER
    return json.dumps(config).replace(str(INDEX_PLACEHOLDER), f"$({INDEX_VARIABLE})")


def _pod_spec(job: Job, container: dict[str, Any], claim: str, restart: str) -> dict[str, Any]:
    """A pod spec with ``container`` and the shared volume ``claim`` mounted at /shared."""
    container = {**container, "volumeMounts": [{"name": "shared", "mountPath": SHARED_MOUNT}]}
    return {"restartPolicy": restart, "containers": [container],
            "volumes": [{"name": "shared", "persistentVolumeClaim": {"claimName": claim}}]}


def kubernetes_indexed_job(job: Job, claim: str = "shared-workdir", backoff_limit: int = 3) -> list[dict[str, Any]]:
    """A headless ``Service`` and an Indexed ``batch/v1`` ``Job``: plain Kubernetes, no operator.

    Pod ``i`` gets host name ``<name>-<i>`` and ``TF_CONFIG`` with task index ``i`` (from the
    ``batch.kubernetes.io/job-completion-index`` annotation). A failed pod is replaced by one with the same
    index, up to ``backoff_limit`` times; the others then fail with TensorFlow's error, are replaced too,
    and the new group resumes from the last checkpoint in ``claim`` (a ReadWriteMany volume every pod mounts).
    """
    check_int("backoff_limit", backoff_limit, 0)
    labels = {"app.kubernetes.io/name": job.name}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": job.name, "labels": labels},
               "spec": {"clusterIP": "None", "selector": {"batch.kubernetes.io/job-name": job.name},
                        "ports": [{"name": "grpc", "port": job.port}]}}
    env = [{"name": INDEX_VARIABLE,
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}},
           {"name": "TF_CONFIG", "value": indexed_job_tf_config(job)}]
    container = {"name": "worker", "image": job.image, "command": job.command(), "env": env,
                 "ports": [{"name": "grpc", "containerPort": job.port}]}
    pod = {**_pod_spec(job, container, claim, "Never"), "subdomain": job.name}
    batch_job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job.name, "labels": labels},
                 "spec": {"completionMode": "Indexed", "completions": job.workers, "parallelism": job.workers,
                          "backoffLimit": backoff_limit,
                          "template": {"metadata": {"labels": labels}, "spec": pod}}}
    return [service, batch_job]


def tfjob_addresses(job: Job, namespace: str = "default") -> list[str]:
    """Where the Training Operator puts the TFJob's workers: ``<name>-worker-<i>.<namespace>.svc:port``."""
    return [f"{job.name}-worker-{i}.{namespace}.svc:{job.port}" for i in range(job.workers)]


def kubeflow_tfjob(job: Job, claim: str = "shared-workdir", backoff_limit: int = 3) -> dict[str, Any]:
    """A Kubeflow Training Operator v1 ``TFJob`` (``kubeflow.org/v1``): legacy, for clusters that still run
    the v1 operator. The operator makes a Service per worker and writes each pod's ``TF_CONFIG``; it needs
    the container named ``tensorflow`` and the port named ``tfjob-port``."""
    check_int("backoff_limit", backoff_limit, 0)
    container = {"name": "tensorflow", "image": job.image, "command": job.command(),
                 "ports": [{"name": "tfjob-port", "containerPort": job.port}]}
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob",
            "metadata": {"name": job.name, "annotations": {
                "helpers.distributed/note": "legacy: Kubeflow Trainer v2 dropped distributed TensorFlow"}},
            "spec": {"runPolicy": {"backoffLimit": backoff_limit, "cleanPodPolicy": "Running"},
                     "tfReplicaSpecs": {"Worker": {"replicas": job.workers, "restartPolicy": "OnFailure",
                                                   "template": {"spec": _pod_spec(job, container, claim,
                                                                                  "OnFailure")}}}}}


# ---------------------------------------------------------------------------------------------------- Slurm
def slurm_batch_script(job: Job, time_limit: str = "01:00:00", attempts: int = 3,
                       partition: str | None = None) -> str:
    """An ``sbatch`` script: one task per node, each building its cluster with ``SlurmClusterResolver``.

    ``srun --kill-on-bad-exit=1`` ends the whole step when one task fails; the script then runs the step
    again (up to ``attempts`` times), and the new step resumes from the last checkpoint in ``workdir``
    (on a file system every node mounts). ``--requeue`` lets Slurm requeue the job when a node fails.
    """
    check_int("attempts", attempts, 1)
    if not re.fullmatch(r"(\d+-)?\d{1,2}(:\d{2}){0,2}", time_limit):
        raise ValueError(f"time_limit must be Slurm's [days-]hours:minutes:seconds, got {time_limit!r}")
    options = [f"--job-name={job.name}", f"--nodes={job.workers}", "--ntasks-per-node=1",
               f"--time={time_limit}", "--requeue", f"--output={job.name}-%j.log"]
    if partition:
        options.append(f"--partition={partition}")
    command = shlex.join(job.command("--cluster-resolver", "slurm", "--port", str(job.port)))
    lines = ["#!/bin/bash", *(f"#SBATCH {option}" for option in options), "set -u",
             f"for attempt in $(seq 1 {attempts}); do",
             f"    srun --kill-on-bad-exit=1 {command} && exit 0",
             '    echo "training step failed (attempt $attempt); resuming from the last checkpoint" >&2',
             "done", "exit 1"]
    return "\n".join(lines) + "\n"

