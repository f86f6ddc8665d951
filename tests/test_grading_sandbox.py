"""The grading sandbox (helpers.grading.sandbox, helpers.grading.kernel): hostile submissions of a tiny notebook,
each trying one thing in its first answer, score zero there with a reason naming it while the rest of the class
grades normally, and afterwards nothing was written, read, deleted, reached or left running; the kernel runs in
the sandbox (its own PID and network namespaces, the job's uid, no home), sees no gradebook, and a process it
leaves behind cannot rewrite the grades; the sandbox hides the grader's home and a class folder inside the
repository; grading refuses to run without it unless trusted; the feedback pages and Canvas's import file;
nbgrader's alembic lookup is restored after use."""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest

from helpers import procs, student, workbook
from helpers.grading import cells, grade, kernel, report, sandbox
from tests.support.notebooks import tiny_notebook, with_answer

NAME = "09_tiny.ipynb"
ANSWER_1 = "doubled: int = base * 2"  # exercise 1's right answer, after the hostile line
LIMITS = sandbox.Limits(memory_bytes=3 << 30, tasks=64, tmp_bytes=64 << 20)


def _source() -> nbformat.NotebookNode:
    source = cells.mark(tiny_notebook(), NAME)
    student.strip_outputs(source)
    return source


def _running_with(marker: str) -> list[int]:
    """Every process on this machine whose command line contains ``marker`` (not only our descendants: a
    detached process is re-parented)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return procs.alive(found)


# Finds a grader's file by name wherever a submission could hope to reach it: the grader's temporary folders,
# the kernel's /tmp, the folders above the kernel's working folder, and /grading.
FIND = f"""
import glob, sqlite3
from pathlib import Path

def find(name):
    found = glob.glob({tempfile.gettempdir()!r} + '/grading-*/**/' + name, recursive=True)
    found += glob.glob('/tmp/**/' + name, recursive=True) + glob.glob('/grading/**/' + name, recursive=True)
    found += [str(p) for up in Path.cwd().parents if up != Path('/') for p in up.glob('**/' + name)]
    return sorted(set(found))

def full_marks():  # how many it changed: a read-only one (nbgrader's own test copy in the venv) does not count
    changed = 0
    for db in find('gradebook.db'):
        try:
            with sqlite3.connect(db) as connection:
                connection.execute('update grade set manual_score = '
                                   '(select max_score from grade_cells where grade_cells.id = grade.cell_id)')
            changed += 1
        except sqlite3.Error:
            pass
    return changed
"""
FORGED = {"grades": {f"09_ex{k}_check": {"points": 1.0, "max_points": 1.0, "message": ""} for k in (1, 2, 3)}}


def _gradebook_attack() -> str:
    """An answer that gives itself full marks in every gradebook it can change, and says so when there is none."""
    return f"{FIND}\nif not full_marks():\n    raise RuntimeError('no gradebook in sight')"


def _rewriter(marker: str) -> str:
    """An answer that leaves a detached process giving itself full marks in the gradebook, the result file and
    the autograded notebook every 50 ms for 60 s after its cell ends; the answer itself fails."""
    loop = (f"{FIND}\nimport time\nend = time.time() + 60\nwhile time.time() < end:\n    full_marks()\n"
            "    for path in find('result.json') + find('09_tiny.ipynb'):\n        try:\n"
            f"            open(path, 'w').write({json.dumps(FORGED)!r})\n        except OSError:\n            pass\n"
            "    time.sleep(0.05)\n")
    return (f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {loop!r}, 'rewriter-{marker}'], "
            "start_new_session=True)\nraise RuntimeError('left a rewriter behind')")


def _probe(home: Path) -> str:
    """An answer that reports where its kernel runs: namespaces, uid, its working folder, the folder of its
    connection file (``-f`` on its command line), the grader's home."""
    return ("import os, sys\nraise RuntimeError(repr({'pid_ns': os.readlink('/proc/self/ns/pid'), "
            "'net_ns': os.readlink('/proc/self/ns/net'), 'uid': os.getuid(), 'cwd': os.getcwd(), "
            "'here': sorted(os.listdir()), "
            "'job': sorted(os.listdir(os.path.dirname(sys.argv[sys.argv.index('-f') + 1]))), "
            f"'home': os.path.exists({str(home)!r})}}))")


def _probed(message: str) -> dict:
    found = re.search(r"raised RuntimeError: (\{.*?\}); then", message)
    assert found, message
    return ast.literal_eval(found.group(1))


@pytest.mark.slow
def test_hostile_submissions_score_zero_and_leave_nothing_behind(tmp_path, monkeypatch):
    marker = str(uuid.uuid4().int)[:12]  # digits: part of a sleep interval below
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    secret = home / ".ssh" / "id_grader"
    secret.write_text(f"SECRET-{marker}")
    planted_in_home, planted_in_repo = Path.home() / f"pwned-{marker}", workbook.ROOT / f"pwned-{marker}"
    monkeypatch.setenv("HOME", str(home))  # the grader's home holds the planted secret, for this test
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]

    source = _source()
    (tmp_path / "notebooks").mkdir()
    nbformat.write(source, tmp_path / "notebooks" / NAME)
    first = workbook.graded_exercises(source, NAME)[0].solution
    subs = tmp_path / "class"
    other = subs / "honest" / NAME
    hostile = {  # student: (first answer, what its message must name)
        "writes": (f"open({str(planted_in_repo)!r}, 'w').write('x')", (str(planted_in_repo), "the grading sandbox")),
        "writes_home": (f"open({str(planted_in_home)!r}, 'w').write('x')",
                        (str(planted_in_home), "the grading sandbox")),
        "reads": (f"stolen = open({str(secret)!r}).read()", (str(secret), "the grading sandbox shows")),
        "deletes": (f"import os\nos.remove({str(other)!r})", (str(other), "the grading sandbox shows")),
        "connects": (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)",
                     ("ConnectionRefusedError", "the grading sandbox has no network")),
        "allocates": ("hog = bytearray(64 << 30)", ("MemoryError", "limits each process to 3 GiB of memory")),
        "detaches": (f"import subprocess\nfor _ in range(200):\n    subprocess.Popen(['sleep', '917.{marker[:6]}'],"
                     " start_new_session=True)", ("Resource temporarily unavailable", "allows 64 processes")),
        "loops": ("while True:\n    pass", ("timed out: the cell ran past its time limit",)),
        "gradebook": (_gradebook_attack(), ("RuntimeError: no gradebook in sight",)),
        "rewrites": (_rewriter(marker), ("RuntimeError: left a rewriter behind",)),
        "probes": (_probe(home), ("RuntimeError: {'pid_ns'",)),
    }
    for who, (code, _) in hostile.items():
        (subs / who).mkdir(parents=True)
        nbformat.write(with_answer(source, first, f"{code}\n{ANSWER_1}"), subs / who / NAME)
    other.parent.mkdir()
    nbformat.write(source, other)
    other_bytes = other.read_bytes()

    try:
        rows = grade.grade(subs, tmp_path / "notebooks", timeout=90, cell_timeout=5, jobs=2, limits=LIMITS,
                           say=lambda _: None)
        leftovers = _running_with(f"917.{marker[:6]}") + _running_with(f"rewriter-{marker}")
    finally:
        listener_got = _accepted(listener)
        for planted in (planted_in_home, planted_in_repo):
            if planted.exists():
                planted.unlink()
    got = {(r.student, r.exercise): r for r in rows}
    for who, (_, named) in hostile.items():
        row = got[(who, "09_ex1")]
        assert row.points == 0 and all(text in row.message for text in named), (who, row.message)
        assert [got[(who, ex)].points for ex in ("09_ex2", "09_ex3")] == [1, 1], who
    assert [(got[("honest", f"09_ex{k}")].points, got[("honest", f"09_ex{k}")].message) for k in (1, 2, 3)] == \
        [(1, "")] * 3
    kernel = _probed(got[("probes", "09_ex1")].message)
    job = sorted([*hostile, "honest"]).index("probes")
    assert kernel["pid_ns"] != os.readlink("/proc/self/ns/pid") and kernel["net_ns"] != os.readlink("/proc/self/ns/net")
    assert kernel["uid"] == (sandbox.job_uid(job) or os.getuid()) and kernel["home"] is False
    assert (kernel["cwd"], kernel["here"]) == ("/tmp/submission", [NAME])
    assert kernel["job"] == ["k.json", "sockets"], "the kernel saw more of its grading job than its connection"
    assert not planted_in_home.exists() and not planted_in_repo.exists(), "a submission wrote outside its sandbox"
    assert other.read_bytes() == other_bytes, "a submission changed another student's notebook"
    assert listener_got is False, "a submission reached a port on the grader's 127.0.0.1"
    assert leftovers == [], "processes a submission started outlived its grading"
    written = [subs / "grades.csv", subs / "grades.html", subs / "canvas.csv", *(subs / "feedback").rglob("*")]
    assert not any(f"SECRET-{marker}" in p.read_text() for p in written if p.is_file())
    assert sorted(p.relative_to(subs / "feedback").as_posix() for p in (subs / "feedback").rglob("*.html")) == \
        sorted(f"{who}/09_tiny.html" for who in [*hostile, "honest"])
    assert procs.processes_with("helpers.grading.autograde") == [] and procs.processes_with("bwrap") == []


def _accepted(listener: socket.socket) -> bool:
    """Whether anything connected to the listener (which is then closed)."""
    try:
        connection, _ = listener.accept()
        connection.close()
        return True
    except BlockingIOError:
        return False
    finally:
        listener.close()


@pytest.mark.slow
def test_the_sandbox_hides_the_home_and_a_class_folder_inside_a_readable_folder(tmp_path):
    repo = tmp_path / "repo"
    (repo / "class" / "ann").mkdir(parents=True)
    (repo / "class" / "ann" / "09_tiny.ipynb").write_text("ann's answers")
    (repo / "code.py").write_text("shared")
    probe = ("import os, sys\nfrom pathlib import Path\n"
             f"print(sorted(os.listdir({str(repo)!r})), sorted(os.listdir({str(repo / 'class')!r})))\n"
             f"home = Path({str(Path.home())!r})\n"
             "print(sorted(os.listdir(home)) if home.exists() else 'no home')\n")
    readable = [*sandbox.readable_paths(), repo]
    files = sandbox.filesystem(readable, [repo / "class", Path.home()], {}, {}, LIMITS)
    argv = sandbox.command([sys.executable, "-c", probe], filesystem_args=files, limits=LIMITS,
                           uid=sandbox.job_uid(0))
    child = procs.start("probe", program=argv, log=tmp_path / "probe.log",
                        env=sandbox.environment(Path(sys.executable).parent))
    try:
        assert child.process.wait(timeout=60) == 0, child.tail()
    finally:
        procs.stop([child], grace=1.0)
    listing, home_listing = child.log().strip().splitlines()
    assert listing == "['class', 'code.py'] []"  # the class folder inside the bound folder is empty
    # only the folders that lead to what the sandbox binds (here the Python installation) show in the home
    leading = {p.relative_to(Path.home()).parts[0] for p in readable if Path.home() in p.parents}
    assert home_listing == "no home" or set(ast.literal_eval(home_listing)) <= leading


def test_the_kernelspec_of_a_job_puts_its_kernel_in_the_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", "")  # use() prepends the job's folder; restored after the test
    monkeypatch.setattr(sandbox, "bwrap", lambda: "bwrap")
    settings = kernel.prepare(tmp_path / "job-0", LIMITS, 200_000, [tmp_path])
    assert kernel.Settings.load(settings.file) == settings
    spec = json.loads((settings.jupyter_path / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][1:] == ["-m", "helpers.grading.kernel", str(settings.file), "-f", "{connection_file}"]
    assert spec["interrupt_mode"] == "message"
    config = kernel.use(settings)
    assert config["Execute"] == {"kernel_name": "python3"} and config["KernelManager"]["transport"] == "ipc"
    assert os.environ["JUPYTER_PATH"] == str(settings.jupyter_path)
    settings.work.mkdir()
    (settings.work / NAME).write_text("{}")
    argv = kernel.command(settings, ["-f", str(settings.connection_file)])
    pairs = {(argv[i], argv[i + 1], argv[i + 2]) for i in range(len(argv) - 2)}
    assert ("--ro-bind", str(settings.work / NAME), f"/tmp/submission/{NAME}") in pairs
    assert ("--ro-bind", str(settings.connection_file), str(settings.connection_file)) in pairs
    assert ("--bind", str(settings.sockets), str(settings.sockets)) in pairs
    assert argv[argv.index("--chdir") + 1] == "/tmp/submission" and "--die-with-parent" in argv
    assert argv[-5:] == [sys.executable, "-m", "ipykernel_launcher", "-f", str(settings.connection_file)]
    assert [argv[i + 2] for i in range(len(argv) - 2) if argv[i] == "--bind"] == [str(settings.sockets)]
    assert "--reuid=200000" in argv


def test_a_grading_folder_too_long_for_the_kernels_sockets_is_refused(tmp_path):
    with pytest.raises(sandbox.SandboxUnavailable, match=r"too long a path .* set TMPDIR to a shorter folder"):
        kernel.check_socket_path(tmp_path / ("x" * 100) / "job-0")
    with pytest.raises(kernel.KernelSandboxError, match="not the settings of a kernel sandbox"):
        kernel.Settings.load(tmp_path / "missing.json")


def test_a_hidden_folder_is_covered_after_the_folder_that_contains_it_is_bound():
    repo, outside = Path("/work/main"), Path("/srv/elsewhere")
    args = sandbox.filesystem([repo], [repo / "tests", outside], {}, {}, LIMITS)
    assert args.index("--tmpfs", args.index(str(repo))) < args.index(str(repo / "tests"))
    assert str(outside) not in args  # not visible anyway: only what is bound is there
    assert args[args.index("/tmp") - 1] == "--tmpfs" and str(LIMITS.tmp_bytes) in args


def test_grading_refuses_to_run_submissions_without_the_sandbox(tmp_path, monkeypatch):
    source = _source()
    (tmp_path / "notebooks").mkdir()
    nbformat.write(source, tmp_path / "notebooks" / NAME)
    (tmp_path / "class" / "ann").mkdir(parents=True)
    nbformat.write(source, tmp_path / "class" / "ann" / NAME)
    monkeypatch.setattr(sandbox.shutil, "which", lambda _: None)
    with pytest.raises(sandbox.SandboxUnavailable, match=r"apt-get install bubblewrap.*--trusted"):
        grade.grade(tmp_path / "class", tmp_path / "notebooks", say=lambda _: None)
    assert not (tmp_path / "class" / "grades.csv").exists()
    from helpers.grading.__main__ import main

    assert main(["grade", str(tmp_path / "class"), "--notebooks", str(tmp_path / "notebooks")]) == 2


def test_sandbox_refusals_are_named_in_the_message():
    assert sandbox.explain("MemoryError: ", LIMITS) == \
        "MemoryError:  (the grading sandbox limits each process to 3 GiB of memory)"
    assert sandbox.explain("ExerciseError: Not yet", LIMITS) == "ExerciseError: Not yet"


ROWS = [report.Row("ann", "09_tiny", "09_ex1", 0, 1, "the answer cell raised MemoryError: <b>"),
        report.Row("ann", "09_tiny", "09_ex2", 2, 2), report.Row("bo", "09_tiny", "09_ex1", 1, 1),
        report.Row("bo", "09_tiny", "09_ex2", 0, 2, "ExerciseError: Not yet"),
        report.Row("bo", "01_custom_layers", "01_ex1", 1, 1)]


def test_canvas_csv_has_the_columns_canvas_imports(tmp_path):
    report.write_canvas_csv(ROWS, tmp_path / "canvas.csv")
    with open(tmp_path / "canvas.csv", newline="") as source:
        table = list(csv.DictReader(source))
        source.seek(0)
        header = next(csv.reader(source))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_custom_layers", "09_tiny"]
    assert table[0] == {"Student": "Points Possible", "ID": "", "SIS User ID": "", "SIS Login ID": "", "Section": "",
                        "01_custom_layers": "1", "09_tiny": "3"}
    assert [(r["Student"], r["SIS Login ID"], r["01_custom_layers"], r["09_tiny"]) for r in table[1:]] == \
        [("ann", "ann", "", "2"), ("bo", "bo", "1", "1")]


def test_every_student_gets_a_feedback_page_per_notebook(tmp_path):
    written = report.write_feedback(ROWS, tmp_path / "feedback")
    assert sorted(p.relative_to(tmp_path / "feedback").as_posix() for p in written) == \
        ["ann/09_tiny.html", "bo/01_custom_layers.html", "bo/09_tiny.html"]
    page = (tmp_path / "feedback" / "ann" / "09_tiny.html").read_text()
    assert "Total: 2 / 3" in page and "MemoryError: &lt;b&gt;" in page and "passed" in page
    assert "Not yet" not in page  # nothing of another student's


@pytest.mark.slow
def test_trusted_grading_runs_without_the_sandbox(tmp_path, monkeypatch):
    source = _source()
    (tmp_path / "notebooks").mkdir()
    nbformat.write(source, tmp_path / "notebooks" / NAME)
    (tmp_path / "class" / "ann").mkdir(parents=True)
    nbformat.write(source, tmp_path / "class" / "ann" / NAME)
    def missing() -> str:
        raise sandbox.SandboxUnavailable("no bwrap here")

    monkeypatch.setattr(sandbox, "bwrap", missing)  # trusted grading never touches the sandbox
    rows = grade.grade(tmp_path / "class", tmp_path / "notebooks", cell_timeout=20, trusted=True, say=lambda _: None)
    assert [(r.exercise, r.points, r.message) for r in rows] == [(f"09_ex{k}", 1, "") for k in (1, 2, 3)]


def test_nbgrader_api_restores_the_alembic_version_lookup_it_replaces(tmp_path):
    import nbgrader.api

    from helpers.grading import course

    original = nbgrader.api.get_alembic_version
    with course.nbgrader_api(tmp_path) as api:
        assert nbgrader.api.get_alembic_version is course.alembic_head and api is not None
    assert nbgrader.api.get_alembic_version is original
