"""A stand-in worker without TensorFlow, so the cluster launcher in :mod:`helpers.distributed` can be
tested in a second: it prints its ``TF_CONFIG`` (task and cluster) and pid as an event, sleeps, then exits
with a chosen code.

    python -m tests.support.distributed_probe --sleep 0.5 [--exit-code 3 --fail-task 1 --fail-after 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    """Run the probe; returns the exit code (``--exit-code`` only for the task named by ``--fail-task``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to sleep before exiting")
    parser.add_argument("--exit-code", type=int, default=0, help="exit code of the failing task")
    parser.add_argument("--fail-task", type=int, default=None, help="only this task fails (default: all)")
    parser.add_argument("--fail-after", type=float, default=None, help="the failing task's sleep instead")
    parser.add_argument("--spawn", type=int, default=0, help="start this many sleeping probes of its own")
    parser.add_argument("--spawn-netns", default=None, help="start them inside this network namespace")
    parser.add_argument("--ignore-sigterm", action="store_true", help="force the launcher to SIGKILL")
    args = parser.parse_args(argv)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task, cluster = config.get("task", {}), config.get("cluster", {})
    print("EVENT " + json.dumps({"event": "start", "task": task, "cluster": cluster, "pid": os.getpid()}),
          flush=True)
    if args.spawn:  # a launcher inside a worker: shows that its probes die with it
        from helpers.distributed import Cluster

        netns = None if args.spawn_netns is None else [args.spawn_netns] * args.spawn
        inner = Cluster(args.spawn, ["--sleep", "600"], log_dir=tempfile.mkdtemp(), module=__spec__.name,
                        netns=netns)
        print("EVENT " + json.dumps({"event": "spawned", "pids": inner.start().pids}), flush=True)
    fails = args.fail_task is None or task.get("index") == args.fail_task
    time.sleep(args.fail_after if fails and args.fail_after is not None else args.sleep)
    return args.exit_code if fails else 0


if __name__ == "__main__":
    raise SystemExit(main())
