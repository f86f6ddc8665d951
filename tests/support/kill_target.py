"""A stand-in for a notebook kernel: starts one kind of child the way a notebook does, prints the pids of
everything it started, then waits to be killed (tests/test_procs.py kills it with SIGKILL).

    python -m tests.support.kill_target server|worker|pool|tuning-chief WORKDIR
"""

import json
import sys
import time
from pathlib import Path

from helpers import procs


def main(kind: str, workdir: str) -> None:
    work = Path(workdir)
    if kind == "server":
        from helpers.serving import client as sc

        (work / "model").mkdir(parents=True, exist_ok=True)  # no versions: the server just waits for one
        sc.launch(work, server="local", model_name="m", model_base_path=str(work / "model"),
                  file_system_poll_wait_seconds=1)
    elif kind == "worker":
        from helpers.distributed import Cluster

        Cluster(2, ["--sleep", "600", "--spawn", "1"], log_dir=work, module="tests.support.distributed_probe").start()
    elif kind == "pool":
        from joblib import Parallel, delayed

        procs.bind_process_pool()
        Parallel(n_jobs=2)(delayed(time.sleep)(0.1) for _ in range(4))  # loky's workers stay up, idle
    elif kind == "tuning-chief":
        procs.start("tests.support.distributed_probe", ["--sleep", "600"], log=work / "chief.log", name="chief")
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    time.sleep(1.0)  # let grandchildren start
    print(json.dumps(procs.descendants()), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:])
