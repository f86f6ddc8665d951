"""helpers.procs: the one launcher of child processes; nothing is left after a stop, a failure, or a parent
killed with SIGKILL (for every kind of child: model server, cluster worker with its own child, joblib pool)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import procs

SLEEPER = "tests.support.distributed_probe"


def test_free_ports_are_bindable_on_loopback_and_distinct():
    ports = procs.free_ports(3)
    assert len(set(ports)) == 3
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))


GRPC_THEN_CHILDREN = """
import sys
from concurrent import futures

from helpers import procs  # first, as in a notebook: it turns gRPC's fork handlers off

import grpc

server = grpc.server(futures.ThreadPoolExecutor(2))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
grpc.channel_ready_future(channel).result(timeout=20)
codes = []
for i in range(int(sys.argv[2])):
    child = procs.start("true", program=["/bin/true"], log=f"{sys.argv[1]}/{i}.log")
    codes.append(child.process.wait(timeout=20))
print(sorted(set(codes)))
"""


@pytest.mark.slow
def test_children_of_a_process_with_live_grpc_channels_start(tmp_path):
    # With gRPC's fork support on (its default), about 8 % of such children died of SIGABRT before exec here.
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    out = subprocess.run([sys.executable, "-c", GRPC_THEN_CHILDREN, str(tmp_path), "100"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[0]"], [(p.name, p.read_text()[-300:]) for p in tmp_path.glob("*.log")
                                           if p.read_text()][:3]


@pytest.mark.slow
def test_start_logs_registers_and_stop_terminates_then_kills(tmp_path):
    polite = procs.start(SLEEPER, ["--sleep", "60"], log=tmp_path / "polite.log", name="polite")
    stubborn = procs.start(SLEEPER, ["--sleep", "60", "--ignore-sigterm"], log=tmp_path / "stubborn.log")
    procs.wait_until(lambda: "EVENT" in stubborn.log(), timeout=30, what="started", watch=[stubborn])
    assert {polite, stubborn} <= set(procs.running())
    procs.stop([polite, stubborn], grace=1.0)
    assert polite.returncode == -signal.SIGTERM and stubborn.returncode == -signal.SIGKILL
    assert procs.alive([polite.pid, stubborn.pid]) == [] and polite not in procs.running()
    procs.stop([polite, stubborn])  # stopping what already ended is a no-op


@pytest.mark.slow
def test_wait_for_exit_fails_fast_with_the_log_and_times_out(tmp_path):
    failing = procs.start(SLEEPER, ["--exit-code", "3"], log=tmp_path / "f.log", name="failing")
    with pytest.raises(procs.ChildFailed, match=r"failing failed \(exit code 3\)\. End of its log:\nEVENT"):
        procs.wait_for_exit([failing], timeout=30)
    slow = procs.start(SLEEPER, ["--sleep", "60"], log=tmp_path / "s.log", name="slow")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="not finished after 1 s"):
        procs.wait_for_exit([slow], timeout=1)
    assert time.monotonic() - started < 10
    slow.stop()


def test_log_tail_leaves_out_tensorflow_start_up_noise(tmp_path):
    log = tmp_path / "worker.log"
    assert procs.log_tail(log) == "(no log)"
    log.write_text("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                   "I0000 00:00:1795707586.164915   31370 cudart_stub.cc:31] Could not find cuda drivers\n"
                   "step 1\nTraceback (most recent call last):\nValueError: bad shape\n")
    assert procs.log_tail(log) == "step 1\nTraceback (most recent call last):\nValueError: bad shape"
    assert procs.log_tail(log, lines=1) == "ValueError: bad shape"


def test_an_exception_in_the_parent_leaves_nothing(tmp_path):
    code = ("from helpers import procs\n"
            f"procs.start({SLEEPER!r}, ['--sleep', '600'], log={str(tmp_path / 'c.log')!r})\n"
            "print(procs.descendants(), flush=True)\n"
            "raise RuntimeError('boom')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "RuntimeError: boom" in done.stderr
    assert procs.alive(json.loads(done.stdout)) == []  # atexit stopped it


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["server", "worker", "pool", "tuning-chief"])
def test_a_parent_killed_with_sigkill_leaves_no_child(kind, tmp_path):
    parent = subprocess.Popen([sys.executable, "-m", "tests.support.kill_target", kind, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, start_new_session=False)
    try:
        line = parent.stdout.readline()
        assert line, f"the {kind} parent printed nothing (exit code {parent.poll()})"
        children = json.loads(line)
        expected = {"server": 1, "worker": 4, "pool": 2, "tuning-chief": 1}[kind]  # worker: 2 + 1 child each
        assert len(procs.alive(children)) >= expected, children
    finally:
        os.kill(parent.pid, signal.SIGKILL)  # no atexit, no finally: what a killed kernel gets
        parent.wait(10)
    deadline = time.monotonic() + 15
    while procs.alive(children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert procs.alive(children) == [], f"left running after the parent was killed: {procs.alive(children)}"
