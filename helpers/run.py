"""The notebook runner: ``python -m helpers.run`` (what ``make run`` calls).

Executes the workbook's notebooks one after another with papermill, with a preset from
``notebooks/params/<preset>.yaml`` and ``-p NAME VALUE`` overrides, into ``runs/<timestamp>/``, and writes
``summary.md`` / ``summary.json`` (status, seconds and the figures each notebook recorded).
``--seeds 0-9`` runs them once per seed (``seed-N/`` each) and writes min / median / max of every figure
(``seeds.json`` / ``seeds.md``; ``--table`` merges them into the committed table, see ``helpers.seeds``).
It imports no TensorFlow, so ``--list`` and errors on bad parameters come back at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from helpers import seeds
from helpers.logs import strip_ansi
from helpers.runtime import FLOORS_KEY, RECORD_FILE_ENV, WORKDIR_ENV
from helpers.workbook import NOTEBOOKS, ROOT, code_cells, find_notebooks

PRESETS = ("ci", "classroom", "full")


class RunnerError(Exception):
    """A problem with the runner's own arguments (unknown notebook, parameter or preset)."""


@dataclass
class Result:
    """What one notebook run produced."""

    notebook: str
    status: str  # "passed" or "failed"
    seconds: float
    parameters: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # "cell N: ErrorName: message" when failed
    output: str = ""  # the executed notebook, relative to the run folder
    floors: dict[str, Any] = field(default_factory=dict)  # helpers.check_floor: {name: {"op", "limit"}}


def notebook_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """Parameters of a notebook's ``parameters`` cell: name -> {type, default, help}."""
    import papermill

    found = papermill.inspect_notebook(str(path))
    return {
        name: {"type": info["inferred_type_name"], "default": info["default"], "help": info["help"]}
        for name, info in found.items()
    }


def select(notebooks: list[Path], only: str | None) -> list[Path]:
    """Filter by ``--only 01,03`` (numbers or full stems); unknown selections are an error."""
    if not only:
        return notebooks
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = []
    for w in wanted:
        match = [nb for nb in notebooks if nb.stem == w or nb.stem.split("_", 1)[0] == w.zfill(2)]
        if not match:
            names = ", ".join(nb.stem for nb in notebooks)
            raise RunnerError(f"--only: no notebook {w!r}; the notebooks are: {names}")
        chosen.extend(m for m in match if m not in chosen)
    return chosen


def load_preset(name: str, folder: Path = NOTEBOOKS / "params") -> dict[str, dict[str, Any]]:
    """The preset file as {notebook stem: {parameter: value}}."""
    if name not in PRESETS:
        raise RunnerError(f"--preset must be one of {', '.join(PRESETS)}; got {name!r}")
    path = folder / f"{name}.yaml"
    if not path.exists():
        raise RunnerError(f"preset file {path} is missing")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict | None) for v in data.values()):
        raise RunnerError(f"{path}: expected one mapping of parameters per notebook")
    return {stem: (values or {}) for stem, values in data.items()}


def parse_value(text: str) -> Any:
    """A ``-p`` value as YAML: ``2`` -> int, ``0.1`` -> float, ``true`` -> bool, other text -> str."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def plan(notebooks: list[Path], preset: dict[str, dict], overrides: dict[str, Any]) -> dict[Path, dict]:
    """Parameters for each notebook; refuses names that no selected notebook (or the preset's) accepts."""
    accepted = {nb: notebook_parameters(nb) for nb in notebooks}
    every = sorted({name for params in accepted.values() for name in params})
    unknown = [name for name in overrides if name not in every]
    if unknown:
        raise RunnerError(
            f"no selected notebook has a parameter named {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(every)}"
        )
    result = {}
    for nb, params in accepted.items():
        values = dict(preset.get(nb.stem, {}))
        stray = [k for k in values if k not in params]
        if stray:
            raise RunnerError(f"preset section {nb.stem!r} sets unknown parameter(s) {stray}; "
                              f"{nb.stem} accepts: {', '.join(params)}")
        values.update({k: v for k, v in overrides.items() if k in params})
        result[nb] = values
    return result


def _failure_text(err: Exception) -> str:
    """One line: the failing cell's number, the error's name and message (ANSI colours removed)."""
    cell = getattr(err, "exec_count", None) or getattr(err, "cell_index", "?")
    name = getattr(err, "ename", type(err).__name__)
    value = strip_ansi(str(getattr(err, "evalue", err)))
    value = " ".join(value.split())
    return f"cell {cell}: {name}: {value[:500]}"


def execute(nb: Path, parameters: dict, out_dir: Path, timeout: int) -> Result:
    """Run one notebook with papermill into ``out_dir``; never raises for a failing notebook."""
    import papermill
    from traitlets.config import Config

    output = out_dir / nb.name
    figures_file = out_dir / "figures" / f"{nb.stem}.json"
    workdir = out_dir / "work" / nb.stem  # private per notebook: runs never share temp folders
    figures_file.parent.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    env_before = {k: os.environ.get(k) for k in (RECORD_FILE_ENV, WORKDIR_ENV)}
    os.environ[RECORD_FILE_ENV] = str(figures_file)
    os.environ[WORKDIR_ENV] = str(workdir)
    start = time.perf_counter()
    status, error = "passed", ""
    try:
        # IPC sockets, not TCP: nothing listens on a port, and ipykernel has no plain-text warning to print.
        # The socket files go into a folder of their own (by default they land in the kernel's working folder).
        with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
            papermill.execute_notebook(
                str(nb), str(output), parameters=parameters, cwd=str(nb.parent), kernel_name="python3",
                progress_bar=sys.stderr.isatty(), execution_timeout=timeout,
                config=Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/ipc"}}),
            )
    except Exception as err:  # a failing cell, a timeout, a dead kernel: all are a failed notebook
        status, error = "failed", _failure_text(err)
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = round(time.perf_counter() - start, 1)
    figures = json.loads(figures_file.read_text()) if figures_file.exists() else {}
    floors = figures.pop(FLOORS_KEY, {})  # what each figure was held to: the seed table's, not the report's
    return Result(nb.stem, status, seconds, parameters, figures, error, output.name, floors)


def summary_markdown(results: list[Result], title: str) -> str:
    """The summary table as Markdown (also printed at the end of a run)."""
    lines = [f"# {title}", "", "| notebook | status | seconds | figures |", "|---|---|---:|---|"]
    for r in results:
        figs = ", ".join(f"{k}={v}" for k, v in r.figures.items()) or "-"
        status = r.status if not r.error else f"{r.status}: {r.error}"
        lines.append(f"| {r.notebook} | {status} | {r.seconds:.1f} | {figs} |")
    total = sum(r.seconds for r in results)
    lines += ["", f"{sum(r.status == 'passed' for r in results)}/{len(results)} passed in {total:.1f} s"]
    return "\n".join(lines) + "\n"


def write_summary(results: list[Result], out_dir: Path, title: str) -> str:
    """Write summary.md and summary.json into the run folder; return the Markdown."""
    text = summary_markdown(results, title)
    (out_dir / "summary.md").write_text(text)
    (out_dir / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    return text


def compare(run_a: Path, run_b: Path) -> str:
    """Every recorded figure of two runs side by side (e.g. CPU vs GPU, or two presets)."""
    def figures(run: Path) -> dict[tuple[str, str], Any]:
        path = run / "summary.json"
        if not path.exists():
            raise RunnerError(f"{path} not found: --compare takes two run folders of helpers.run")
        return {(r["notebook"], k): v for r in json.loads(path.read_text()) for k, v in r["figures"].items()}

    a, b = figures(run_a), figures(run_b)
    lines = [f"| notebook | figure | {run_a.name} | {run_b.name} | B/A |", "|---|---|---:|---:|---:|"]
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "-"), b.get(key, "-")
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (va, vb))
        ratio = f"{vb / va:.3g}" if numeric and va else "-"
        lines.append(f"| {key[0]} | {key[1]} | {va} | {vb} | {ratio} |")
    return "\n".join(lines)


def list_notebooks(notebooks: list[Path]) -> str:
    """Each notebook and its parameters with type, default and help."""
    out = []
    for nb in notebooks:
        out.append(nb.stem)
        for name, info in notebook_parameters(nb).items():
            out.append(f"  {name}: {info['type']} = {info['default']}  # {info['help']}")
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="ci", help=f"one of {', '.join(PRESETS)} (default ci)")
    parser.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 01,03")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a parameter in every selected notebook that has it (repeatable)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/<timestamp>)")
    parser.add_argument("--list", action="store_true", help="list notebooks and their parameters, run nothing")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("RUN_A", "RUN_B"),
                        help="print the recorded figures of two run folders side by side")
    parser.add_argument("--seeds", metavar="SPEC",
                        help="run once per seed, e.g. 0-9 or 0-4,7, and write min/median/max of every figure")
    parser.add_argument("--table", type=Path, nargs="?", const=seeds.TABLE, metavar="JSON",
                        help="with --seeds: merge the sweep into this table (default "
                             "notebooks/params/seed_figures.json) and its .md")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell (default 900)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    return parser


def check_seed_arguments(args: argparse.Namespace, overrides: dict[str, Any]) -> list[int]:
    """The ``--seeds`` list ([] without it); refuses ``-p seed`` beside it and ``--table`` without it."""
    if not args.seeds:
        if args.table:
            raise RunnerError("--table only goes with --seeds")
        return []
    if "seed" in overrides:
        raise RunnerError("--seeds sets the seed of every run: drop -p seed")
    try:
        return seeds.parse_seeds(args.seeds)
    except seeds.SeedSpecError as err:
        raise RunnerError(str(err)) from None


def run_all(planned: dict[Path, dict], out_dir: Path, timeout: int, prefix: str = "") -> list[Result]:
    """Execute the planned notebooks one after another into ``out_dir``, printing progress."""
    results = []
    for i, (nb, params) in enumerate(planned.items(), 1):
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        print(f"{prefix}[{i}/{len(planned)}] {nb.stem} {shown}", flush=True)
        result = execute(nb, params, out_dir, timeout)
        print(f"    {result.status} in {result.seconds:.1f} s {result.error}", flush=True)
        results.append(result)
    return results


def sweep(planned: dict[Path, dict], seed_list: list[int], out_dir: Path, args: argparse.Namespace) -> int:
    """Every planned notebook once per seed (into ``seed-N/``), then the min/median/max table."""
    shas = {nb.stem: seeds.source_sha(code_cells(nb)) for nb in planned}  # the code as the sweep starts
    runs = {}
    for seed in seed_list:
        seeded = {nb: {**params, "seed": seed} for nb, params in planned.items()}
        seed_dir = out_dir / f"seed-{seed}"
        seed_dir.mkdir(parents=True, exist_ok=True)
        results = run_all(seeded, seed_dir, args.timeout, prefix=f"seed {seed} ")
        write_summary(results, seed_dir, f"Run {out_dir.name}/seed-{seed} (preset {args.preset})")
        runs[seed] = [asdict(r) for r in results]
        (out_dir / "runs.json").write_text(json.dumps(runs, indent=1))  # kept as it goes: a sweep is long
    table = seeds.describe(seeds.aggregate(runs), args.preset,
                                {nb.stem: params for nb, params in planned.items()}, shas)
    print(seeds.markdown(table))
    print(f"table: {seeds.write(table, out_dir / 'seeds.json')}")
    if args.table:
        merged = seeds.merge(seeds.load(args.table), table)
        print(f"merged into {seeds.write(merged, args.table)}")
        for path in seeds.write_floors({nb: merged[nb] for nb in table}, args.notebooks):
            print(f"floors paragraph rewritten in {path}")
    failed = sum(1 for results in runs.values() for r in results if r["status"] != "passed")
    print(f"{failed} failed run(s) of {len(seed_list) * len(planned)}; runs under {out_dir}")
    return 0 if not failed else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.compare:
            print(compare(*args.compare))
            return 0
        notebooks = select(find_notebooks(args.notebooks), args.only)
        if args.list:
            print(list_notebooks(notebooks))
            return 0
        overrides = {name: parse_value(value) for name, value in args.parameter}
        seed_list = check_seed_arguments(args, overrides)
        planned = plan(notebooks, load_preset(args.preset, args.notebooks / "params"), overrides)
    except RunnerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # Absolute: each notebook's kernel runs in the notebooks folder, not where the runner was started.
    out_dir = (args.out or ROOT / "runs" / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if seed_list:
        return sweep(planned, seed_list, out_dir, args)
    results = run_all(planned, out_dir, args.timeout)
    print(write_summary(results, out_dir, f"Run {out_dir.name} (preset {args.preset})"))
    from helpers.report import write_report

    print(f"report: {write_report(out_dir, results)}")
    print(f"executed notebooks and summary in {out_dir}")
    return 0 if all(r.status == "passed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
