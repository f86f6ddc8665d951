"""Where the workbook lives and how a reader gets it: its repository URL (one setting), the install command, the
Colab and source links, and the set-up cell that installs the package where it is missing. ``make site``
(:mod:`helpers.site.build`) and the notebooks' set-up cell use these.

The setting is ``Repository`` under ``[project.urls]`` in ``pyproject.toml`` (in an installed package: its
``Project-URL`` metadata). While it is not set, there are no Colab or source links and the install command is
``pip install`` of a clone's folder.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from helpers.seeds import INSTALL_BLOCK_START
from helpers.workbook import ROOT

DISTRIBUTION = "advanced-tf-helpers"
BRANCH = "main"  # the branch the Colab and source links open
PYPROJECT = ROOT / "pyproject.toml"
GITHUB = re.compile(r"https://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(\.git)?/?$")


def repository_url(pyproject: Path | None = PYPROJECT) -> str | None:
    """The workbook's public repository (``[project.urls] Repository``), without a trailing slash; None while
    it is not configured. Read from ``pyproject`` when that file exists (a clone), else from the installed
    package's metadata. ValueError for a URL that is not ``https://``."""
    if pyproject is not None and Path(pyproject).exists():
        url = tomllib.loads(Path(pyproject).read_text()).get("project", {}).get("urls", {}).get("Repository")
    else:
        try:
            entries = metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []
        except metadata.PackageNotFoundError:
            entries = []
        pairs = [entry.split(",", 1) for entry in entries if "," in entry]
        url = next((value.strip() for label, value in pairs if label.strip().lower() == "repository"), None)
    if not url:
        return None
    if not url.startswith("https://"):
        raise ValueError(f"[project.urls] Repository must be an https:// URL, got {url!r}")
    return url.rstrip("/").removesuffix(".git")


def install_requirement(url: str | None) -> str:
    """What ``pip install`` takes to install the workbook's package with its pinned requirements: the repository
    (``advanced-tf-helpers @ git+URL``) when its URL is configured, else the folder of a clone."""
    return f"{DISTRIBUTION} @ git+{url}" if url else "/path/to/your/clone/of/the/workbook"


def install_command(url: str | None) -> str:
    """The one command that installs the package (not editable) into the current Python."""
    return f'pip install "{install_requirement(url)}"'


def source_url(url: str | None, notebook: str) -> str | None:
    """The notebook's page in the repository (GitHub's ``blob`` form); None without a repository URL."""
    return f"{url}/blob/{BRANCH}/notebooks/{notebook}" if url else None


def colab_url(url: str | None, notebook: str) -> str | None:
    """Colab's link that opens the notebook straight from GitHub; None unless the repository is on GitHub."""
    found = GITHUB.match(url or "")
    if not found:
        return None
    return (f"https://colab.research.google.com/github/{found['owner']}/{found['name']}/blob/{BRANCH}/"
            f"notebooks/{notebook}")


WHEEL_GLOB = "advanced_tf_helpers-*.whl"  # the package's wheel, as `make site` links it on every page


def install_cell(url: str | None) -> str:
    """The source of a notebook's set-up block: nothing happens where ``helpers`` is importable (a clone, a
    venv with the package). Elsewhere it takes the package's wheel from the notebook's folder (the book links it
    on every page) or, without one, the repository URL when it is configured: on Colab it installs it, anywhere
    else it stops with the one command. With neither, it says where to get the wheel."""
    return (
        "# Set-up: the workbook's package `helpers` and its pinned requirements, where they are missing\n"
        "# (Colab, Kaggle, a plain Jupyter). Nothing happens in a clone or where the package is installed.\n"
        "import importlib.util\n"
        "import sys\n"
        "from pathlib import Path\n"
        "\n"
        f"REQUIREMENT = {(install_requirement(url) if url else None)!r}\n"
        'if importlib.util.find_spec("helpers") is None:\n'
        "    # the package's wheel (a download on every page of the book) beside this notebook comes first\n"
        f'    wheels = sorted(Path.cwd().glob("{WHEEL_GLOB}"))\n'
        "    found = str(wheels[-1]) if wheels else REQUIREMENT\n"
        "    if found is None:\n"
        '        raise ModuleNotFoundError("the workbook\'s package is missing: put its wheel '
        '(advanced_tf_helpers-*.whl, "\n'
        '                                  "a download on every page of the book) beside this notebook, '
        'or pip install "\n'
        '                                  "a clone of the repository, and run this cell again")\n'
        '    if "google.colab" in sys.modules:\n'
        '        %pip install --quiet "{found}"\n'
        "        importlib.invalidate_caches()\n"
        "    else:\n"
        '        raise ModuleNotFoundError(f"the workbook\'s package is missing here: run  '
        'pip install \\"{found}\\"  "\n'
        '                                  "and restart the kernel")'
    )


def with_install_cell(setup_source: str, url: str | None) -> str:
    """A notebook's set-up cell with :func:`install_cell` at its top (an older copy of it replaced)."""
    block = install_cell(url).rstrip("\n")
    if setup_source.startswith(INSTALL_BLOCK_START):
        setup_source = setup_source.split("\n\n\n", 1)[1] if "\n\n\n" in setup_source else ""
    return f"{block}\n\n\n{setup_source}"
