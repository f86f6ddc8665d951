"""Seed sweeps for ``python -m helpers.run --seeds 0-9`` (what ``make seeds`` calls).

A floor or bound in a notebook is only honest if it holds for the seeds a learner may pick, so the runner
can run the chosen notebooks once per seed (one after another: the machine may have 2 cores) and
:func:`aggregate` reduces every numeric figure they recorded to min / median / max over the seeds.
The table is written next to the runs (``seeds.json``, ``seeds.md``) and, with ``--table``, merged into the
committed one (``notebooks/params/seed_figures.json`` and its Markdown rendering), one notebook at a time.
No TensorFlow here: the unit tests build tables from plain dicts.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from datetime import date
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parents[1] / "notebooks" / "params" / "seed_figures.json"


class SeedSpecError(ValueError):
    """A ``--seeds`` value that is not a list of seeds or ranges."""


def parse_seeds(spec: str) -> list[int]:
    """``"0-9"``, ``"0-4,7,2027"`` or ``"3"`` -> the seeds in the order given, without repeats.

    Ranges are inclusive at both ends, as a person writes them; seeds are non-negative integers.
    """
    seeds: list[int] = []
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            lo = int(first)
            hi = int(last) if dash else lo
        except ValueError:
            raise SeedSpecError(f"--seeds: {part!r} is not a seed or a range like 0-9") from None
        if lo < 0 or hi < lo:
            raise SeedSpecError(f"--seeds: {part!r} must be N or LO-HI with 0 <= LO <= HI")
        seeds.extend(s for s in range(lo, hi + 1) if s not in seeds)
    if not seeds:
        raise SeedSpecError(f"--seeds: no seeds in {spec!r}; e.g. --seeds 0-9")
    return seeds


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def aggregate(runs: dict[int, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per notebook, every numeric figure's min / median / max over the seeds, and the seeds that failed.

    ``runs`` maps a seed to that seed's results (``helpers.run.Result`` as dicts: notebook, status, seconds,
    figures, error). Each notebook's run time is kept as the figure ``seconds``. A figure a failed run
    recorded still counts (the failure is listed beside it); booleans and text are not figures to bound.
    """
    table: dict[str, dict[str, Any]] = {}
    for seed, results in sorted(runs.items()):
        for r in results:
            entry = table.setdefault(r["notebook"], {"seeds": [], "failed": {}, "values": {}})
            entry["seeds"].append(seed)
            if r["status"] != "passed":
                entry["failed"][str(seed)] = r.get("error", "") or r["status"]
            figures = dict(r.get("figures") or {}, seconds=r["seconds"])
            for name, value in figures.items():
                if _numeric(value):
                    entry["values"].setdefault(name, {})[str(seed)] = float(value)
    out = {}
    for notebook, entry in table.items():
        figures = {}
        for name, by_seed in entry["values"].items():
            values = list(by_seed.values())
            figures[name] = {"min": min(values), "median": statistics.median(values), "max": max(values),
                             "n": len(values), "by_seed": by_seed}
        out[notebook] = {"seeds": entry["seeds"], "failed": entry["failed"], "figures": figures}
    return out


def machine() -> str:
    """A short description of where the sweep ran (its CPU count and load matter for the timings)."""
    return f"{platform.node() or 'unknown host'}, {platform.machine()}, {os.cpu_count()} CPU cores, " \
           f"Python {platform.python_version()}"


def describe(notebooks: dict[str, dict[str, Any]], preset: str, parameters: dict[str, dict[str, Any]]) -> dict:
    """Stamp each notebook's aggregate with the date, machine, preset and parameters (seed excepted)."""
    stamp = {"date": date.today().isoformat(), "machine": machine(), "preset": preset}
    return {nb: dict(stamp, parameters={k: v for k, v in parameters.get(nb, {}).items() if k != "seed"}, **agg)
            for nb, agg in notebooks.items()}


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The committed table with ``new``'s notebooks replaced whole (a sweep of 04 leaves 05's rows alone)."""
    return dict(sorted({**old, **new}.items()))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _seed_list(seeds: list[int]) -> str:
    """[0, 1, 2, 3, 7] -> '0-3, 7'."""
    parts, run = [], []
    for s in sorted(seeds) + [None]:
        if run and (s is None or s != run[-1] + 1):
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        if s is not None:
            run.append(s)
    return ", ".join(parts)


def markdown(table: dict[str, Any], title: str = "Recorded figures over seeds") -> str:
    """The table as Markdown: per notebook, when and where it ran, the failures, then one row per figure."""
    lines = [f"# {title}", "",
             "Generated by `python -m helpers.run --seeds ...` (helpers/seeds.py); do not edit by hand.",
             "Each notebook's floors and bounds must sit below the minimum (or above the maximum) here,",
             "with the margin its text states; `tests/test_seeds.py` checks the ones it maps.", ""]
    for notebook, entry in table.items():
        seeds = entry.get("seeds", [])
        lines += [f"## {notebook}", "",
                  f"{len(seeds)} seeds ({_seed_list(seeds)}), preset `{entry.get('preset', '?')}`, "
                  f"{entry.get('date', '?')}, {entry.get('machine', '?')}.", ""]
        failed = entry.get("failed", {})
        if failed:
            lines += ["Failed:", ""] + [f"- seed {s}: {why}" for s, why in failed.items()] + [""]
        else:
            lines += [f"All {len(seeds)} runs passed.", ""]
        lines += ["| figure | min | median | max | n |", "|---|---:|---:|---:|---:|"]
        for name, f in sorted(entry.get("figures", {}).items()):
            lines.append(f"| {name} | {_fmt(f['min'])} | {_fmt(f['median'])} | {_fmt(f['max'])} | {f['n']} |")
        lines.append("")
    return "\n".join(lines)


def write(table: dict[str, Any], json_path: Path, title: str = "Recorded figures over seeds") -> Path:
    """Write ``json_path`` and its Markdown rendering (same name, ``.md``); return the Markdown's path."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    md = json_path.with_suffix(".md")
    md.write_text(markdown(table, title))
    return md


def load(path: Path = TABLE) -> dict[str, Any]:
    """The committed table ({} when there is none yet)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}
