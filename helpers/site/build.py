"""The book to read without running (``make site``): the notebooks of one run of :mod:`helpers.run`, with
their outputs, figures and diagrams, a page per topic, an index with the run's times and a page of the
measured figures, built offline with Sphinx, MyST-NB and sphinx-book-theme (configuration: docs/site/conf.py).

Each topic page starts with where it came from (preset, seconds) and links to the notebook's download (the
workbook's notebook without outputs), and, where the repository URL is configured, to Colab and the source.
Links to the README become links to the book's index, whose "The topics" table takes the README's place.
Imports no TensorFlow; Sphinx runs in this process.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat

from helpers import procs
from helpers.logs import strip_ansi
from helpers.site import WHEEL_GLOB, colab_url, install_command, repository_url, source_url
from helpers.workbook import NOTEBOOKS, ROOT

CONF_DIR = ROOT / "docs" / "site"
SEED_TABLE = NOTEBOOKS / "params" / "seed_figures.md"
README_LINK = re.compile(r"\]\((?:\.\./)?README\.md(#[\w-]+)?\)")
PRESET_IN_TITLE = re.compile(r"\(preset (\w+)\)")


class SiteError(RuntimeError):
    """The book cannot be built: a missing or failed run, or a Sphinx warning (a broken link, a bad page)."""


@dataclass
class Topic:
    """One notebook of the run: its executed copy, title and what the run recorded."""

    stem: str
    executed: Path
    title: str
    seconds: float
    figures: dict

    @property
    def page(self) -> str:
        return f"notebooks/{self.stem}"


def _title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found = re.search(r"(?m)^#\s+(.+)$", cell.source)
            if found:
                return found.group(1).strip()
    return fallback


def read_run(run_dir: Path) -> tuple[list[Topic], str, str]:
    """The topics of a finished run folder (``summary.json``, executed notebooks), its preset and date.
    SiteError when the folder is not a run, or a notebook failed (a book shows passing runs only)."""
    run_dir = Path(run_dir)
    summary = run_dir / "summary.json"
    if not summary.exists():
        raise SiteError(f"{run_dir} is not a run folder of `make run` / python -m helpers.run: no summary.json")
    results = json.loads(summary.read_text())
    failed = [f"{r['notebook']}: {r['error']}" for r in results if r["status"] != "passed"]
    if failed:
        raise SiteError(f"the run {run_dir} has failed notebooks; the book shows passing runs only:\n"
                        + "\n".join(failed))
    found = PRESET_IN_TITLE.search((run_dir / "summary.md").read_text()) if (run_dir / "summary.md").exists() else None
    preset = found.group(1) if found else "unknown"
    date = datetime.fromtimestamp(summary.stat().st_mtime).strftime("%Y-%m-%d")
    topics = []
    for r in results:
        executed = run_dir / r["output"]
        if not executed.exists():
            raise SiteError(f"{executed} is missing from the run folder")
        title = _title(nbformat.read(executed, as_version=4), r["notebook"])
        topics.append(Topic(r["notebook"], executed, title, r["seconds"], r["figures"]))
    if not topics:
        raise SiteError(f"the run {run_dir} has no notebooks")
    return topics, preset, date


def package_wheel(folder: Path, timeout: float = 300) -> Path:
    """Build the workbook's package as a wheel into ``folder`` (uv when it is installed, else pip) and return it:
    the book offers it beside each notebook, for a Jupyter or Colab without the repository."""
    import importlib.util

    folder.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("uv") is not None:
        args = ["build", "--quiet", "--wheel", "--out-dir", folder, ROOT]
        child = procs.start("uv", args, log=folder.parent / "wheel.log", name="uv build")
    else:
        args = ["wheel", "--quiet", "--no-deps", "--wheel-dir", folder, ROOT]
        child = procs.start("pip", args, log=folder.parent / "wheel.log", name="pip wheel")
    try:
        procs.wait_for_exit([child], timeout=timeout)
    except (procs.ChildFailed, TimeoutError) as err:
        raise SiteError(f"the package's wheel could not be built: {err}") from err
    finally:
        procs.stop([child])
    wheels = sorted(folder.glob(WHEEL_GLOB))
    if not wheels:
        raise SiteError(f"building the wheel wrote no {WHEEL_GLOB} into {folder}")
    return wheels[-1]


def _links(topic: Topic, url: str | None, wheel: str) -> str:
    """The line under a page's title: where the outputs come from, and the download / Colab / source links."""
    parts = [f"{{download}}`Download the notebook </downloads/{topic.stem}.ipynb>` (no outputs)",
             f"{{download}}`the package's wheel </downloads/{wheel}>` (put it beside the notebook: its first code "
             "cell installs it)"]
    colab, source = colab_url(url, f"{topic.stem}.ipynb"), source_url(url, f"{topic.stem}.ipynb")
    if colab:
        parts.append(f"[Open in Colab]({colab})")
    if source:
        parts.append(f"[Source]({source})")
    return " · ".join(parts)


def topic_page(topic: Topic, preset: str, date: str, url: str | None, wheel: str) -> nbformat.NotebookNode:
    """The executed notebook as a page: the provenance and links under its title, README links to the index."""
    notebook = nbformat.read(topic.executed, as_version=4)
    header = (f"\n\n*Outputs of a run with the `{preset}` preset on {date}: {topic.seconds:.0f} s on the "
              f"workbook's 2-core machine.* {_links(topic, url, wheel)}\n")
    placed = False
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        cell.source = README_LINK.sub(lambda m: f"](../index.md{m.group(1) or ''})", cell.source)
        if not placed:
            cell.source, placed = re.subn(r"(?m)^(#\s+.+)$", lambda m: m.group(1) + header, cell.source, count=1)
    if not placed:
        raise SiteError(f"{topic.executed} has no title (a '# ' heading in a markdown cell)")
    return notebook


def _table(rows: list[list[str]], head: list[str], align: str) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def index_page(topics: list[Topic], preset: str, date: str, url: str | None, wheel: str) -> str:
    """The book's first page: what it is, the topics with this run's times, how to run it yourself."""
    rows = [[f"[{t.title}]({t.page}.ipynb)", f"{t.seconds:.0f}"] for t in topics]
    toctree = "\n".join([t.page for t in topics] + ["measured"])
    total = sum(t.seconds for t in topics)
    run_it = [f"- On Colab: upload a page's notebook and {{download}}`the package's wheel </downloads/{wheel}>` "
              "(Files pane, both in `/content`) and run the notebook: its first code cell installs the wheel with "
              "its pinned requirements.",
              f"- Anywhere with Python 3.11, 3.12 or 3.13: `pip install {wheel}` (or `{install_command(url)}`), then "
              "open a downloaded notebook in Jupyter from any folder (servers and worker processes need Linux, or "
              "WSL2 on Windows).",
              "- In a clone of the repository: `make lab` (JupyterLab with your own copies of the notebooks)."]
    if url:
        run_it.insert(0, f"- On Colab from the repository: each page's *Open in Colab* link; the notebook's first "
                         f"code cell installs the package. The repository: <{url}>.")
    return "\n".join([
        "# Advanced TensorFlow, tested", "",
        "The workbook's notebooks on advanced TensorFlow and Keras, each page the notebook itself with the outputs "
        f"of one run: the `{preset}` preset on {date}, {total:.0f} s in all on a 2-core CPU machine without a GPU. "
        "Every claim in the text is checked by a cell of the notebook (or marked *Not run here*).", "",
        "## The topics", "",
        _table(rows, ["notebook", f"seconds ({preset})"], ["---", "---:"]), "",
        "The figures each notebook recorded are on [Measured figures](measured.md).", "",
        "## Run it yourself", "", *run_it, "",
        "```{toctree}", ":hidden:", ":maxdepth: 1", "", toctree, "```", "",
    ])


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def measured_page(topics: list[Topic], preset: str, date: str, seed_table: Path = SEED_TABLE) -> str:
    """Every figure the notebooks recorded in this run, and the committed spread over ten seeds."""
    parts = ["# Measured figures", "",
             f"What each notebook recorded with `helpers.record` in this run (`{preset}` preset, {date}).", ""]
    for t in topics:
        rows = [[f"`{name}`", _value(value)] for name, value in t.figures.items()]
        parts += [f"## {t.title}", "", f"[The page]({t.page}.ipynb) · {t.seconds:.0f} s", ""]
        parts += [_table(rows, ["figure", "value"], ["---", "---:"]) if rows else "(no figures recorded)", ""]
    if seed_table.exists():
        body = seed_table.read_text().split("\n", 1)[1]  # its own title gives way to this section's
        parts += ["## Over ten seeds", "", "The spread of each figure over seeds 0-9, as committed in the repository "
                  "(`notebooks/params/seed_figures.md`); the notebooks' floors are set below its minimum.", "",
                  re.sub(r"(?m)^(#+) ", r"#\1 ", body)]
    return "\n".join(parts)


def write_source(topics: list[Topic], preset: str, date: str, source: Path, url: str | None) -> None:
    """The Sphinx source folder: index.md, measured.md, notebooks/*.ipynb (executed), downloads/*.ipynb and the
    package's wheel."""
    if source.exists():
        shutil.rmtree(source)
    (source / "notebooks").mkdir(parents=True)
    (source / "downloads").mkdir()
    wheel = package_wheel(source / "downloads").name
    for topic in topics:
        nbformat.write(topic_page(topic, preset, date, url, wheel), source / f"{topic.page}.ipynb")
        shutil.copy(NOTEBOOKS / f"{topic.stem}.ipynb", source / "downloads" / f"{topic.stem}.ipynb")
    (source / "index.md").write_text(index_page(topics, preset, date, url, wheel))
    (source / "measured.md").write_text(measured_page(topics, preset, date))


def sphinx_html(source: Path, out: Path, doctrees: Path) -> None:
    """Sphinx's HTML build of ``source`` into ``out`` with docs/site/conf.py; SiteError on any warning."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    if not (CONF_DIR / "conf.py").exists():
        raise SiteError(f"{CONF_DIR / 'conf.py'} is missing: the book is built in a clone of the repository")
    status, warned = io.StringIO(), io.StringIO()
    with patch_docutils(str(CONF_DIR)), docutils_namespace(), warnings.catch_warnings():
        # MyST and the theme still use Sphinx APIs that Sphinx 9 deprecates: their notice is not ours to act on
        warnings.filterwarnings("ignore", message=".*deprecated", module="myst_parser|sphinx_book_theme")
        app = Sphinx(str(source), str(CONF_DIR), str(out), str(doctrees), "html", status=status,
                     warning=warned, freshenv=True)
        app.build(force_all=True)
    if warned.getvalue().strip():
        raise SiteError(f"Sphinx warned while building the book:\n{strip_ansi(warned.getvalue()).strip()}")


def _clear(out: Path) -> None:
    """Empty a previous book at ``out``; refuse a folder that is not one (never delete someone's files)."""
    if not out.exists():
        return
    if any(out.iterdir()) and not (out / ".buildinfo").exists():
        raise SiteError(f"{out} exists and is not a book built here (no .buildinfo): choose another --out")
    shutil.rmtree(out)


def build(run_dir: Path, out: Path, url: str | None = None) -> Path:
    """Build the book of ``run_dir`` into ``out`` (work files beside it); returns ``out/index.html``.
    ``url`` defaults to the configured repository URL; ``""`` builds without one."""
    topics, preset, date = read_run(run_dir)
    url = repository_url() if url is None else (url or None)
    out = Path(out).resolve()
    work = out.parent / f"{out.name}-work"
    write_source(topics, preset, date, work / "source", url)
    _clear(out)
    sphinx_html(work / "source", out, work / "doctrees")
    return out / "index.html"
