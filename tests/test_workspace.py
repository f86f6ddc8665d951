"""helpers.workspace: the learner's copies (no solution in sight until the Solutions section, edits never
overwritten) and the JupyterLab they open in (no instructor tooling, no news prompt)."""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import urllib.error
import urllib.request

import nbformat
import pytest

from helpers import procs, workspace
from helpers.workbook import (
    EXERCISES_HEADING,
    NOTEBOOKS,
    exercises,
    find_notebooks,
    is_answer,
    is_solution,
    split_solution,
)
from tests.support.notebooks import tiny_notebook

REAL = find_notebooks(NOTEBOOKS)
EDIT = "# my own answer, which must survive\n"


def _answer_lines(source: str) -> list[str]:
    """The substantial lines of a solution's answer (between the markers): what must not be visible."""
    try:
        _, answer, _ = split_solution(source)
    except ValueError:
        answer = source.split("\n", 1)[1] if "\n" in source else ""
    return [line.strip() for line in answer.splitlines() if len(line.strip()) > 20 and not line.strip().startswith("#")]


def _heading_index(nb, heading: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(heading))


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_no_solution_is_visible_before_the_solutions_section(path):
    nb = nbformat.read(path, as_version=4)
    copy = workspace.learner_copy(nb, path.name)
    solutions = _heading_index(copy, workspace.SOLUTIONS_HEADING)
    answers = [c for c in nb.cells if is_answer(c)]  # review answers move to the Solutions section
    assert solutions == len(nb.cells) - len(answers), "the lesson and exercises kept cell for cell, Solutions appended"
    assert all(a.source not in "\n".join(c.source for c in copy.cells[:solutions]) for a in answers)
    assert all(a.source in "\n".join(c.source for c in copy.cells[solutions:]) for a in answers)
    before = "\n".join(c.source for c in copy.cells[:solutions])
    after = "\n".join(c.source for c in copy.cells[solutions:])
    found = exercises(nb, path.name)
    assert found, "every notebook has exercises"
    lesson = "\n".join(c.source for c in nb.cells if not is_solution(c))
    for exercise in found:
        # the answer's own lines: those the lesson, the task or the check does not also show
        answer = [line for line in _answer_lines(nb.cells[exercise.solution].source) if line not in lesson]
        assert answer, f"{path.stem} {exercise.title}: a solution with no lines of its own"
        visible = [line for line in answer if line in before]
        assert not visible, f"{path.stem} {exercise.title}: solution lines visible before Solutions: {visible[:3]}"
        assert all(line in after for line in answer), f"{path.stem} {exercise.title}: solution missing"
        stub = copy.cells[exercise.solution]
        assert is_solution(stub) and "raise NotImplementedError(" in stub.source  # the hint, and a blank to fill
        assert stub.metadata.get("nbgrader") == nb.cells[exercise.solution].metadata.get("nbgrader")
        assert f"### {exercise.title}" in after
    for cell in copy.cells[solutions:]:  # plain cells: nothing for nbgrader or the checks to mistake for a task
        assert not cell.metadata.get("tags") and "nbgrader" not in cell.metadata
    assert _heading_index(copy, EXERCISES_HEADING) < solutions
    assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code")


def test_a_notebook_without_exercises_is_refused(tmp_path):
    nb = tiny_notebook()
    nb.cells = [c for c in nb.cells if not is_solution(c)]
    with pytest.raises(workspace.NotebookFormatError, match="no exercise"):
        workspace.learner_copy(nb, "00_none.ipynb")


def _course(tmp_path, names=("01_tiny", "02_tiny")):
    """A notebooks folder of tiny notebooks in the exercise format."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in names:
        nbformat.write(tiny_notebook(), folder / f"{name}.ipynb")
    return folder


def _edit(path):
    """Write an answer into the learner's first answer cell, as JupyterLab would save it."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if is_solution(c))
    cell.source = EDIT + cell.source
    nbformat.write(nb, path)


def _has_edit(path) -> bool:
    return EDIT in next(c for c in nbformat.read(path, as_version=4).cells if is_solution(c)).source


def test_copies_are_made_once_and_edits_survive_every_later_run(tmp_path):
    notebooks, out = _course(tmp_path), tmp_path / "workspace"
    done = workspace.prepare(out, notebooks)
    assert set(done.values()) == {"created"} and len(done) == 2
    _edit(out / "01_tiny.ipynb")
    again = workspace.prepare(out, notebooks)  # `make lab` a second time
    assert again == {out / "01_tiny.ipynb": "kept", out / "02_tiny.ipynb": "kept"}
    assert _has_edit(out / "01_tiny.ipynb")
    (out / "02_tiny.ipynb").unlink()  # a learner who wants a notebook afresh can also just delete it
    assert workspace.prepare(out, notebooks)[out / "02_tiny.ipynb"] == "created"
    assert (out / ".jupyter" / "labconfig" / "page_config.json").exists()


def test_an_update_of_the_workbook_keeps_the_learners_copy_and_says_how_to_take_it(tmp_path):
    notebooks, out = _course(tmp_path), tmp_path / "workspace"
    workspace.prepare(out, notebooks)
    _edit(out / "01_tiny.ipynb")
    updated = nbformat.read(notebooks / "01_tiny.ipynb", as_version=4)  # the repository is updated ...
    updated.cells[0].source += "\n\nA new paragraph."
    nbformat.write(updated, notebooks / "01_tiny.ipynb")
    nbformat.write(tiny_notebook(), notebooks / "03_new.ipynb")  # ... with a new notebook
    done = workspace.prepare(out, notebooks)
    assert done[out / "03_new.ipynb"] == "created"
    assert done[out / "01_tiny.ipynb"].startswith("kept (the workbook's version changed")
    assert "--refresh 01" in done[out / "01_tiny.ipynb"] and done[out / "02_tiny.ipynb"] == "kept"
    assert _has_edit(out / "01_tiny.ipynb")

    refreshed = workspace.prepare(out, notebooks, refresh=["01"])
    message = refreshed[out / "01_tiny.ipynb"]
    assert message.startswith("refreshed (yours is now replaced/01_tiny.")
    kept = out / message.split("yours is now ")[1].rstrip(")")
    assert _has_edit(kept), "the learner's old copy, answers included, is kept"
    fresh = nbformat.read(out / "01_tiny.ipynb", as_version=4)
    assert "A new paragraph." in fresh.cells[0].source and not _has_edit(out / "01_tiny.ipynb")
    assert workspace.prepare(out, notebooks)[out / "01_tiny.ipynb"] == "kept"


def test_a_bad_refresh_name_changes_nothing(tmp_path, capsys):
    notebooks, out = _course(tmp_path), tmp_path / "workspace"
    workspace.prepare(out, notebooks)
    _edit(out / "01_tiny.ipynb")
    code = workspace.main(["--out", str(out), "--notebooks", str(notebooks), "--refresh", "01,09"])
    assert code == 2 and "no notebook '09'" in capsys.readouterr().err
    assert _has_edit(out / "01_tiny.ipynb") and not (out / "replaced").exists()


def test_the_learners_lab_config_turns_off_nbgrader_and_the_news(tmp_path, monkeypatch):
    from jupyterlab_server.config import get_page_config

    config = workspace.write_config(tmp_path)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config))
    page = get_page_config([], logger=None)  # what JupyterLab reads from every labconfig folder, merged
    disabled = set(page.get("disabledExtensions", []))  # merged into a list of the names switched off
    assert {"@jupyter/nbgrader", "@jupyterlab/apputils-extension:announcements"} <= disabled
    server = json.loads((config / "jupyter_server_config.json").read_text())
    assert server["LabApp"]["news_url"] is None
    assert not any(server["ServerApp"]["jpserver_extensions"].values())


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:  # not listening yet
        return 0, ""


def _start_lab(out, log, token, port):
    """JupyterLab on the workspace exactly as `make lab` starts it (its config folder, its root)."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(out / ".jupyter"),
               JUPYTER_DATA_DIR=str(log.parent / "data"), JUPYTER_RUNTIME_DIR=str(log.parent / "runtime"))
    args = ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={out}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    lab = procs.start("jupyterlab", args, log=log, name="jupyterlab", env=env)
    url = f"http://127.0.0.1:{port}"
    procs.wait_until(lambda: _get(f"{url}/api/status?token={token}")[0] == 200, timeout=90,
                     what="answering", watch=[lab])
    return lab, url


@pytest.mark.slow
def test_the_learners_lab_has_no_instructor_tooling_and_edits_survive_a_restart(tmp_path):
    notebooks, out = _course(tmp_path, ("01_tiny",)), tmp_path / "workspace"
    workspace.prepare(out, notebooks)
    token, port = secrets.token_hex(8), procs.free_port()
    lab, url = _start_lab(out, tmp_path / "lab1.log", token, port)
    try:
        status, page = _get(f"{url}/lab?token={token}")
        assert status == 200
        data = json.loads(html.unescape(re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S).group(1)))
        assert {"@jupyter/nbgrader", "@jupyterlab/apputils-extension:announcements"} <= set(data["disabledExtensions"])
        assert _get(f"{url}/formgrader?token={token}")[0] == 404  # nbgrader's server side is off too
        name = "01_tiny.ipynb"
        status, body = _get(f"{url}/api/contents/{name}?token={token}")
        model = json.loads(body)
        answer = next(c for c in model["content"]["cells"] if "solution" in c["metadata"].get("tags", []))
        answer["source"] = EDIT + answer["source"]
        request = urllib.request.Request(f"{url}/api/contents/{name}?token={token}", method="PUT",
                                         data=json.dumps({"type": "notebook", "format": "json",
                                                          "content": model["content"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200  # saved through JupyterLab's own contents API
    finally:
        procs.stop([lab])
    assert workspace.prepare(out, notebooks) == {out / "01_tiny.ipynb": "kept"}  # `make lab` again
    lab, url = _start_lab(out, tmp_path / "lab2.log", token, procs.free_port())
    try:
        model = json.loads(_get(f"{url}/api/contents/01_tiny.ipynb?token={token}")[1])
        assert any(EDIT in "".join(c["source"]) for c in model["content"]["cells"])
    finally:
        procs.stop([lab])
    assert not lab.is_running()
