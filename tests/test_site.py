"""The book to read without running (``make site``, :mod:`helpers.site`): the links and the notebooks' set-up
cell, the build from a run folder, and the built book in headless Chromium: every topic page renders, every
figure loads, every internal link resolves, nothing is fetched from the network.

The browser test builds the book of notebook 01 (ci preset) to fit CI's time; ``make site`` builds all seven
(classroom preset) and runs the same check on them (``SITE_BOOK=build/site``)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers import site
from helpers.site import build
from tests.support.browser import chromium

URL = "https://github.com/someone/advanced-tf"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def _pyproject(tmp_path: Path, urls: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "advanced-tf-helpers"\n\n[project.urls]\n{urls}\n')
    return path


def test_the_repository_url_is_one_setting_in_pyproject(tmp_path):
    assert site.repository_url(_pyproject(tmp_path, "")) is None
    assert site.repository_url(_pyproject(tmp_path, f'Repository = "{URL}.git"')) == URL
    with pytest.raises(ValueError, match="https://"):
        site.repository_url(_pyproject(tmp_path, 'Repository = "git@github.com:someone/advanced-tf"'))
    configured = site.repository_url()  # the repository's own setting is valid, set or not
    assert configured is None or configured.startswith("https://")


def test_links_follow_the_repository_url():
    assert site.colab_url(URL, "07_interpretability.ipynb") == (
        "https://colab.research.google.com/github/someone/advanced-tf/blob/main/notebooks/07_interpretability.ipynb")
    assert site.source_url(URL, "07_interpretability.ipynb") == f"{URL}/blob/main/notebooks/07_interpretability.ipynb"
    assert site.colab_url("https://gitlab.com/someone/advanced-tf", "x.ipynb") is None  # Colab opens GitHub only
    assert site.colab_url(None, "x.ipynb") is None and site.source_url(None, "x.ipynb") is None
    assert site.install_command(URL) == f'pip install "advanced-tf-helpers @ git+{URL}"'
    assert site.install_command(None).startswith('pip install "/')


def _run_cell(source: str, monkeypatch, *, installed: bool, colab: bool):
    """Run the set-up cell in a real IPython shell; ``%pip`` is recorded, not run. Returns (calls, error)."""
    import importlib.util
    import sys
    import types

    from IPython.core.interactiveshell import InteractiveShell

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: real_find_spec(name, *a) if installed or name != "helpers" else None)
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = []
    shell = InteractiveShell()
    shell.register_magic_function(calls.append, magic_kind="line", magic_name="pip")
    try:
        result = shell.run_cell(source, silent=True)
    finally:
        InteractiveShell.clear_instance()
    return calls, result.error_in_exec


@pytest.mark.parametrize("url", [URL, None], ids=["url", "no-url"])
def test_the_set_up_cell(url, monkeypatch, tmp_path):
    source = site.install_cell(url)
    assert max(len(line) for line in source.splitlines()) <= 120  # ruff's limit on the notebooks
    monkeypatch.chdir(tmp_path)  # the notebook's folder, without a wheel for now
    calls, error = _run_cell(source, monkeypatch, installed=True, colab=True)
    assert calls == [] and error is None, "where helpers is importable the cell does nothing"
    calls, error = _run_cell(source, monkeypatch, installed=False, colab=False)
    assert calls == [] and isinstance(error, ModuleNotFoundError)
    if url:
        assert site.install_command(url) in str(error).replace('\\"', '"'), "elsewhere it names the one command"
    else:
        assert "put its wheel" in str(error) and "book" in str(error)
    calls, error = _run_cell(source, monkeypatch, installed=False, colab=True)
    if url:
        assert error is None and calls == [f'install --quiet "advanced-tf-helpers @ git+{URL}"']
    else:
        assert calls == [] and "put its wheel" in str(error)
    wheel = tmp_path / "advanced_tf_helpers-0.1.0-py3-none-any.whl"  # the book's download, uploaded beside it
    wheel.write_bytes(b"")
    calls, error = _run_cell(source, monkeypatch, installed=False, colab=True)
    assert error is None and calls == [f'install --quiet "{wheel}"'], "the wheel comes first, URL or not"
    calls, error = _run_cell(source, monkeypatch, installed=False, colab=False)
    assert calls == [] and f'pip install "{wheel}"' in str(error).replace('\\"', '"')


def _fake_run(run_dir: Path, notebooks: dict[str, list], status: str = "passed") -> Path:
    """A run folder as helpers.run writes it, with the given executed notebooks (name -> cells)."""
    run_dir.mkdir(parents=True)
    results = []
    for stem, cells in notebooks.items():
        metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                    "language_info": {"name": "python"}}
        nbformat.write(new_notebook(cells=cells, metadata=metadata), run_dir / f"{stem}.ipynb")
        results.append({"notebook": stem, "status": status, "seconds": 12.3, "parameters": {"seed": 0},
                        "figures": {"accuracy": 0.9312}, "error": "" if status == "passed" else "cell 3: boom",
                        "output": f"{stem}.ipynb"})
    (run_dir / "summary.json").write_text(json.dumps(results))
    (run_dir / "summary.md").write_text(f"# Run {run_dir.name} (preset ci)\n")
    return run_dir


def _executed_cells(title: str, extra: str = "") -> list:
    figure = new_code_cell("plot()", execution_count=1,
                           outputs=[new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})])
    return [new_markdown_cell(f"# {title}\n\nTimes: see the [table](../README.md#the-topics).{extra}"),
            new_code_cell("print('hi')", execution_count=2, outputs=[new_output("stream", text="hi\n")]), figure]


@pytest.mark.slow
def test_the_book_of_a_run(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "NOTEBOOKS", tmp_path / "run")  # the downloads: the workbook's notebooks
    run = _fake_run(tmp_path / "run", {"01_custom_layers": _executed_cells("01 · Custom layers"),
                                       "07_interpretability": _executed_cells("07 · Interpretability")})
    index = build.build(run, tmp_path / "book", url=URL)
    page = (index.parent / "notebooks" / "07_interpretability.html").read_text()
    assert "Open in Colab" in page and site.colab_url(URL, "07_interpretability.ipynb") in page
    assert site.source_url(URL, "07_interpretability.ipynb") in page
    assert 'href="../index.html#the-topics"' in page, "the README link becomes the index's topics table"
    assert "preset on" in page and "12 s" in page
    assert list(index.parent.glob("_downloads/*/07_interpretability.ipynb")), "the download is in the book"
    assert list(index.parent.glob("_downloads/*/advanced_tf_helpers-*-py3-none-any.whl")), "the package's wheel too"
    assert re.search(r'href="\.\./_downloads/\w+/advanced_tf_helpers-[\w.-]+\.whl"', page), "linked on each page"
    assert len(list(index.parent.glob("_images/*.png"))) == 1  # the two pages' identical figure, stored once
    measured = (index.parent / "measured.html").read_text()
    assert "accuracy" in measured and "0.9312" in measured
    build.build(run, tmp_path / "book", url="")  # rebuilt in place, without a repository URL
    assert "Colab" not in (index.parent / "notebooks" / "07_interpretability.html").read_text()


@pytest.mark.slow
def test_a_failed_run_a_broken_link_or_a_foreign_folder_stops_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "NOTEBOOKS", tmp_path)
    failed = _fake_run(tmp_path / "failed", {"01_custom_layers": _executed_cells("01")}, status="failed")
    with pytest.raises(build.SiteError, match="01_custom_layers: cell 3: boom"):
        build.build(failed, tmp_path / "book", url="")
    with pytest.raises(build.SiteError, match="no summary.json"):
        build.build(tmp_path, tmp_path / "book", url="")
    monkeypatch.setattr(build, "NOTEBOOKS", tmp_path / "broken")
    broken = _fake_run(tmp_path / "broken", {"01_custom_layers": _executed_cells("01", " [x](nowhere.md)")})
    with pytest.raises(build.SiteError, match="nowhere.md"):
        build.build(broken, tmp_path / "book", url="")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(build.SiteError, match="not a book"):
        build.build(broken, tmp_path / "mine", url="")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# --- the built book in Chromium -------------------------------------------------------------------------------

PAGE_STATE = """() => ({
    title: (document.querySelector('main h1, article h1') || {}).textContent || '',
    images: [...document.images].map(i => ({src: i.src, loaded: i.complete && i.naturalWidth > 0,
                                            output: !!i.closest('.cell_output')})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    nav: [...document.querySelectorAll('nav.bd-links a[href], .prev-next-area a[href]')].map(a => a.href),
})"""


def check_book(browser, index: Path, sources: Path) -> tuple[list[str], list[str]]:
    """Visit every page reachable from ``index``; return (the topic pages seen, the problems found). A topic page
    must have a title, show as many figures as its notebook has image outputs (``sources``/notebooks/*.ipynb),
    all loaded; every internal link must reach a file, and its #anchor an element of that page."""
    root = index.parent.resolve()
    context = browser.new_context()
    outside: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    todo, seen, ids, problems, links = [index.resolve()], set(), {}, [], []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        page.goto(path.as_uri(), wait_until="load")
        state = page.evaluate(PAGE_STATE)
        ids[path] = set(state["ids"])
        name = str(path.relative_to(root))
        problems += [f"{name}: figure {unquote(i['src'])} did not load" for i in state["images"] if not i["loaded"]]
        if name.startswith("notebooks/"):
            notebook = nbformat.read(sources / "notebooks" / f"{path.stem}.ipynb", as_version=4)
            expected = sum(any(t in out.get("data", {}) for t in IMAGE_TYPES)
                           for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs)
            shown = sum(i["output"] for i in state["images"])
            if not state["title"].strip() or shown != expected:
                problems.append(f"{name}: title {state['title']!r}, {shown} figures shown of {expected}")
        for href in state["links"]:
            parts = urlsplit(href)
            if parts.scheme != "file":
                continue
            target = Path(unquote(parts.path)).resolve()
            links.append((name, target, parts.fragment))
            if target.suffix == ".html" and target.is_file() and target.is_relative_to(root):
                todo.append(target)
    context.close()
    for name, target, fragment in links:
        if not target.is_file():
            problems.append(f"{name}: link to {target} that does not exist")
        elif fragment and target in ids and unquote(fragment) not in ids[target]:
            problems.append(f"{name}: link to {target.name}#{fragment}: no such anchor")
    problems += [f"fetched from outside the book: {url}" for url in sorted(set(outside))]
    problems += [f"script error: {e}" for e in errors]
    return sorted(str(p.relative_to(root)) for p in seen if p.parent.name == "notebooks"), problems


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """(index.html, source folder, expected topic pages): the book at SITE_BOOK (built by ``make site``), else
    the book of notebook 01 run with the ci preset (CI's subset)."""
    built = os.environ.get("SITE_BOOK")
    if built:
        index = Path(built).resolve() / "index.html"
        sources = index.parent.parent / f"{index.parent.name}-work" / "source"
    else:
        from helpers import run

        folder = tmp_path_factory.mktemp("site")
        assert run.main(["--preset", "ci", "--only", "01", "--out", str(folder / "run")]) == 0
        index = build.build(folder / "run", folder / "book")
        sources = folder / "book-work" / "source"
    topics = sorted(f"notebooks/{p.stem}.html" for p in (sources / "notebooks").glob("*.ipynb"))
    return index, sources, topics


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.xdist_group("site")  # one worker builds the book once for both browser tests
def test_every_page_renders_every_figure_loads_every_link_resolves(book):
    index, sources, topics = book
    with chromium() as browser:
        seen, problems = check_book(browser, index, sources)
    assert seen == topics, "every topic page is reachable from the index"
    assert problems == []


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.xdist_group("site")
def test_the_check_finds_a_missing_figure_and_a_broken_link(book, tmp_path):
    index, sources, topics = book
    copy = tmp_path / "book"
    shutil.copytree(index.parent, copy)
    for image in (copy / "_images").iterdir():
        image.unlink()
    page = copy / topics[0]
    page.write_text(page.read_text().replace("</article>", '<a href="gone.html#nowhere">x</a></article>', 1))
    with chromium() as browser:
        _, problems = check_book(browser, copy / "index.html", sources)
    assert any("did not load" in p for p in problems), problems
    assert any("gone.html" in p and "does not exist" in p for p in problems), problems
