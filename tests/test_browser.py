"""JupyterLab as a learner uses it: headless JupyterLab, notebook 01 opened in headless Chromium (Debian's
``chromium`` package driven by Playwright), Run > Run All Cells through the menus, wait for the kernel to go
idle, no error output, a screenshot in ``runs/browser/``. JupyterLab, its kernels and the browser are
stopped whatever happens. Skipped (with the reason) without Chromium, unless ``CI`` is set: then it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import helpers
from tests.support.browser import chromium, require_browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120  # seconds for JupyterLab to answer and the kernel to become ready
RUN_TIMEOUT = float(os.environ.get("BROWSER_TEST_TIMEOUT", 360))  # seconds for Run All Cells to finish
NOTEBOOK = "01_custom_layers.ipynb"
ERROR_LINE = re.compile(r"Traceback \(most recent call last\)|^\s*(\w+\.)*\w*(Error|Exception)\b", re.M)
# Lab settings for a quiet, deterministic UI: every cell kept in the page, no news or update checks.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        '{"fetchNews": "false", "checkForUpdates": false}',
}


@dataclass
class Lab:
    """A running JupyterLab: its URL, token, process and log file."""

    url: str
    token: str
    process: subprocess.Popen
    log: Path
    root: Path

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, path: str):
        """GET a Jupyter server REST path, e.g. ``/api/sessions``; the decoded JSON."""
        with urllib.request.urlopen(f"{self.url}{path}?token={self.token}", timeout=10) as reply:
            return json.load(reply)

    def wait_for_kernel(self, name: str) -> None:
        """Wait until the notebook ``name`` has a kernel that is idle and connected to a browser."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            kernels = [s["kernel"] for s in self.api("/api/sessions") if s["path"] == name and s.get("kernel")]
            if any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels):
                return
            time.sleep(0.5)
        raise TimeoutError(f"no idle kernel for {name} after {START_TIMEOUT} s:\n{self.log_tail()}")

    def shutdown_sessions(self) -> None:
        """Close every notebook session (and its kernel) through the REST API."""
        for session in self.api("/api/sessions"):
            request = urllib.request.Request(f"{self.url}/api/sessions/{session['id']}?token={self.token}",
                                             method="DELETE")
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=30):
                pass

    def kernels(self) -> list:
        """The kernel processes this JupyterLab started (psutil processes)."""
        import psutil

        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [p for p in children if _alive(p) and "ipykernel_launcher" in " ".join(p.cmdline())]


def _alive(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop JupyterLab's process group, then any kernel it started in a session of its own."""
    import psutil

    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
    for proc in descendants:  # kernels run in their own session: killpg above does not reach them
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(descendants, timeout=10)


@contextlib.contextmanager
def jupyterlab(root: Path, home: Path):
    """Start JupyterLab headless on 127.0.0.1 (free port, random token) serving ``root``; stop it after."""
    for name, text in SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    port, token = helpers.free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    # Private Jupyter folders: no user config, no user kernelspec shadowing this venv's python3 kernel.
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        env[var] = str(home / "jupyter" / sub)  # not home/data: that is the link to the repo's data/
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    log = home / "jupyterlab.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
                                   start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, process, log, root)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{lab.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=3) as reply:
                    if reply.status == 200:
                        break
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer within {START_TIMEOUT} s:\n{lab.log_tail()}")
            time.sleep(0.5)
        yield lab
    finally:
        _stop(process)


PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook tab on show
PAGE_STATE = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    if (!panel) return {prompts: [], stderr: [], status: null};
    const prompts = [...panel.querySelectorAll('.jp-CodeCell')]
        .filter(c => (c.querySelector('.jp-InputArea-editor')?.textContent || '').trim() !== '')
        .map(c => (c.querySelector('.jp-InputArea-prompt')?.textContent || '').trim());
    const stderr = [...panel.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent);
    const status = panel.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
    return {prompts, stderr, status};
}"""


def _finished(state: dict) -> bool:
    """Run All Cells is over: nothing queued, kernel idle, and every cell ran or an error stopped the run."""
    if state["status"] != "idle" or any("*" in p for p in state["prompts"]):
        return False
    ran = all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"])
    return ran or any(ERROR_LINE.search(t) for t in state["stderr"])


def menu(page, top: str, item: str) -> None:
    """Click a menu bar entry, then one of its items, by their visible labels."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$"))
    page.locator(".lm-Menu-item", has=label).click()


def run_all_cells(page, lab: Lab, name: str, screenshot: Path) -> dict:
    """Open ``name`` in JupyterLab, Run > Run All Cells, wait until done, save it; return what the page showed.

    A screenshot is written to ``screenshot`` whatever happens.
    """
    try:
        workspace = f"{Path(name).stem}-{secrets.token_hex(4)}"  # a fresh workspace: no tabs restored
        page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?token={lab.token}",
                  timeout=START_TIMEOUT * 1000)
        page.wait_for_selector(f"{PANEL} .jp-CodeCell", timeout=START_TIMEOUT * 1000)
        lab.wait_for_kernel(name)
        page.wait_for_function(  # the page is connected to that kernel too
            f"() => ({PAGE_STATE})().status === 'idle'", timeout=START_TIMEOUT * 1000)
        page.locator(f"{PANEL} .jp-Cell").first.click()
        menu(page, "Run", "Run All Cells")
        start = time.monotonic()
        done_twice = 0
        while done_twice < 2:  # two polls in a row, a second apart: no cell left to start
            state = page.evaluate(PAGE_STATE)
            waited = time.monotonic() - start
            if waited > RUN_TIMEOUT or (waited > 60 and all(p == "[ ]:" for p in state["prompts"])):
                raise TimeoutError(f"{name}: Run All Cells not finished after {waited:.0f} s: {state['prompts']}")
            done_twice = done_twice + 1 if _finished(state) else 0
            page.wait_for_timeout(1000)
        state = page.evaluate(PAGE_STATE)
        saved = (lab.root / name).stat().st_mtime_ns
        page.keyboard.press("Control+s")  # save, so the outputs can be read back from the file as well
        deadline = time.monotonic() + 60
        while (lab.root / name).stat().st_mtime_ns == saved:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: File > Save did not write the notebook within 60 s")
            page.wait_for_timeout(250)
        page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=30_000)
        return state
    finally:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(screenshot))


def problems(state: dict, saved: nbformat.NotebookNode) -> list[str]:
    """Every error the page showed or the saved notebook holds, and every code cell that did not run."""
    found = [f"error output in the page:\n{t[-800:]}" for t in state["stderr"] if ERROR_LINE.search(t)]
    for i, cell in enumerate(saved.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        for out in cell.outputs:
            if out.output_type == "error":
                found.append(f"cell {i}: {out.ename}: {out.evalue}")
        if cell.execution_count is None:
            found.append(f"cell {i} did not run")
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on a copy of notebooks/ (running and saving must not touch the repository's files)."""
    require_browser()
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (ROOT / "data").is_dir():
        (home / "data").symlink_to(ROOT / "data")  # notebooks may read ../data
    broken = [new_markdown_cell("# Broken on purpose"), new_code_cell("x = 1"),
              new_code_cell("raise ValueError('broken on purpose')"), new_code_cell("y = 2")]
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=broken, metadata=kernel), root / "zz_broken.ipynb")
    with jupyterlab(root, home) as running:
        yield running


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Chromium (Debian's package) through Playwright; closed whatever happens."""
    with chromium() as opened:
        yield opened


@pytest.fixture
def page(lab, browser):
    """A fresh browser page; its notebook's kernel is shut down afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
        lab.shutdown_sessions()


@pytest.mark.parametrize("name", [NOTEBOOK])
def test_notebook_runs_in_jupyterlab(lab, page, name):
    assert (lab.root / name).is_file(), f"notebooks/{name} is missing"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    shot = ROOT / "runs" / "browser" / f"{stamp}-{Path(name).stem}.png"
    state = run_all_cells(page, lab, name, shot)
    kernels = lab.kernels()
    assert kernels, "no kernel process found under JupyterLab"
    assert all(k.cmdline()[0] == sys.executable for k in kernels), (
        f"the kernel is not this project's python ({sys.executable}): {[k.cmdline()[0] for k in kernels]}")
    saved = nbformat.read(lab.root / name, as_version=4)
    found = problems(state, saved)
    assert not found, f"{name} in JupyterLab (screenshot {shot}):\n" + "\n".join(found)
    code = [c for c in saved.cells if c.cell_type == "code" and c.source.strip()]
    assert len(state["prompts"]) == len(code), "the page did not show every code cell"
    assert shot.is_file()


def test_an_error_in_the_page_is_caught(lab, page, tmp_path):
    """The check above is not vacuous: a notebook that raises is reported, and its later cells did not run."""
    state = run_all_cells(page, lab, "zz_broken.ipynb", tmp_path / "broken.png")
    found = problems(state, nbformat.read(lab.root / "zz_broken.ipynb", as_version=4))
    assert any("broken on purpose" in f and "error output in the page" in f for f in found), found
    assert "cell 2: ValueError: broken on purpose" in found and "cell 3 did not run" in found
    assert (tmp_path / "broken.png").is_file()
