"""Seed sweeps for ``python -m helpers.run --seeds 0-9`` (what ``make seeds`` calls).

A floor or bound in a notebook is only honest if it holds for the seeds a learner may pick, so the runner
can run the chosen notebooks once per seed (one after another: the machine may have 2 cores) and
:func:`aggregate` reduces every numeric figure they recorded to min / median / max over the seeds.
The table is written next to the runs (``seeds.json``, ``seeds.md``) and, with ``--table``, merged into the
committed one (``notebooks/params/seed_figures.json`` and its Markdown rendering), one notebook at a time.
No TensorFlow here: the unit tests build tables from plain dicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
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
            for name, floor in (r.get("floors") or {}).items():
                known = entry.setdefault("floors", {}).setdefault(name, {"op": floor["op"], "limits": {}})
                known["limits"][str(seed)] = floor["limit"]
    return {nb: {"seeds": e["seeds"], "failed": e["failed"], "floors": dict(sorted(e.get("floors", {}).items())),
                 "figures": {name: _stats(by_seed) for name, by_seed in e["values"].items()}}
            for nb, e in table.items()}


def _merge_floors(known: dict[str, dict], new: dict[str, dict]) -> dict[str, dict]:
    """The floors of two sweeps of the same code: each floor's limits by seed united (the new run wins)."""
    out = {name: dict(floor, limits=dict(floor["limits"])) for name, floor in known.items()}
    for name, floor in new.items():
        out.setdefault(name, {"op": floor["op"], "limits": {}})["limits"].update(floor["limits"])
    return dict(sorted(out.items()))


def floor_margins(entry: dict[str, Any], name: str) -> dict[str, float]:
    """By seed, how far a floor's figure sits on the right side of its limit (negative: it failed there). The
    limit may differ between seeds when the notebook computes it from the run."""
    floor, values = entry["floors"][name], entry["figures"][name]["by_seed"]
    sign = 1.0 if floor["op"] in (">=", ">") else -1.0
    return {seed: sign * (values[seed] - limit) for seed, limit in floor["limits"].items() if seed in values}


def _stats(by_seed: dict[str, float]) -> dict[str, Any]:
    values = list(by_seed.values())
    by_seed = dict(sorted(by_seed.items(), key=lambda kv: int(kv[0])))
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values),
            "by_seed": by_seed}


def machine() -> str:
    """A short description of where the sweep ran (its CPU count and load matter for the timings)."""
    return f"{platform.node() or 'unknown host'}, {platform.machine()}, {os.cpu_count()} CPU cores, " \
           f"Python {platform.python_version()}"


_ASSERT_LINE = re.compile(r"^\s*assert\b")


# The block at the top of a set-up cell that installs the package where it is missing (helpers.site.install_cell):
# it does nothing where the notebooks are swept, so it is not part of the set-up the figures came from.
INSTALL_BLOCK_START = "# Set-up: the workbook's package `helpers`"


def _without_install_block(cell: str) -> str:
    return cell.split("\n\n\n", 1)[-1] if cell.startswith(INSTALL_BLOCK_START) else cell


def source_sha(code_cells: list[str]) -> str:
    """A short hash of a notebook's code cells: which set-up the figures came from. Plain ``assert`` lines
    (they change no figure) and the install block of the set-up cell are left out; everything else counts,
    floors included: the table holds each floor's limit as swept, so a moved floor needs a new sweep."""
    kept = [line for cell in code_cells for line in _without_install_block(cell).splitlines()
            if not _ASSERT_LINE.match(line)]
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()[:12]


def describe(notebooks: dict[str, dict[str, Any]], preset: str, parameters: dict[str, dict[str, Any]],
             shas: dict[str, str] | None = None) -> dict:
    """Stamp each notebook's aggregate with the date, machine, preset, parameters (seed excepted) and the
    hash of the code it ran (``shas``, from :func:`source_sha`)."""
    stamp = {"date": date.today().isoformat(), "machine": machine(), "preset": preset}
    return {nb: dict(stamp, parameters={k: v for k, v in parameters.get(nb, {}).items() if k != "seed"},
                     source_sha=(shas or {}).get(nb, ""), **agg)
            for nb, agg in notebooks.items()}


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The committed table updated with ``new``, one notebook at a time.

    A notebook swept again with the same preset, parameters and code (``source_sha``) keeps its other seeds:
    the per-seed values are united (the new run wins on a seed run twice) and min/median/max recomputed, so
    ``make seeds SEEDS=5-9`` completes a sweep of 0-4. Anything else changed replaces the notebook's entry:
    figures from another set-up say nothing about this one.
    """
    out = dict(old)
    for nb, entry in new.items():
        before = old.get(nb)
        same = before is not None and entry.get("source_sha") and all(
            before.get(k) == entry.get(k) for k in ("preset", "parameters", "source_sha"))
        if not same:
            out[nb] = entry
            continue
        seeds = sorted(set(before["seeds"]) | set(entry["seeds"]))
        failed = {s: why for s, why in before["failed"].items() if int(s) not in entry["seeds"]}
        failed.update(entry["failed"])
        names = set(before["figures"]) | set(entry["figures"])
        values = {n: {**before["figures"].get(n, {}).get("by_seed", {}),
                      **entry["figures"].get(n, {}).get("by_seed", {})} for n in names}
        out[nb] = dict(entry, seeds=seeds, failed=dict(sorted(failed.items(), key=lambda kv: int(kv[0]))),
                       floors=_merge_floors(before.get("floors", {}), entry.get("floors", {})),
                       figures={n: _stats(v) for n, v in sorted(values.items())})
        if before.get("notes") or entry.get("notes"):
            out[nb]["notes"] = before.get("notes", []) + entry.get("notes", [])
    return dict(sorted(out.items()))


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
        if entry.get("notes"):  # written by hand into the JSON: what a reader of the numbers must know
            lines += ["Notes:", ""] + [f"- {note}" for note in entry["notes"]] + [""]
        if entry.get("floors"):
            lines += ["Floors and bounds (`helpers.check_floor`), against the worst seed:", "",
                      *floor_lines(entry), ""]
        lines += ["| figure | min | median | max | n |", "|---|---:|---:|---:|---:|"]
        for name, f in sorted(entry.get("figures", {}).items()):
            lines.append(f"| {name} | {_fmt(f['min'])} | {_fmt(f['median'])} | {_fmt(f['max'])} | {f['n']} |")
        lines.append("")
    return "\n".join(lines)


def floor_lines(entry: dict[str, Any]) -> list[str]:
    """One Markdown line per floor or bound of a notebook's entry: its limit, worst / median / best seed and
    the smallest margin between a seed's figure and its limit."""
    lines = []
    for name, floor in entry.get("floors", {}).items():
        stats, op = entry["figures"][name], floor["op"]
        limits = sorted(set(floor["limits"].values()))
        limit = _fmt(limits[0]) if len(limits) == 1 else f"{_fmt(limits[0])} to {_fmt(limits[-1])} (by seed)"
        worst, best = (stats["min"], stats["max"]) if op in (">=", ">") else (stats["max"], stats["min"])
        margin = min(floor_margins(entry, name).values(), default=float("nan"))
        lines.append(f"- `{name}` {op} {limit}: worst {_fmt(worst)}, median {_fmt(stats['median'])}, "
                     f"best {_fmt(best)}; margin {_fmt(margin)}")
    return lines


FLOORS_BLOCK_START = "**Floors and bounds over seeds**"


SHOWN_START = "Shown, not asserted (min / median / max over the same seeds):"
_SHOWN_NAME = re.compile(r"^- `(\w+)`(?: \(([^)\n]*)\))?:", re.M)


def floors_block(entry: dict[str, Any], shown: list[tuple[str, str]] = ()) -> str:
    """The paragraph a notebook's collapsed audit block gives its floors (generated; see ``write_floors``), and
    the spread of the ``shown`` figures, ``(name, what it is)``: measured and discussed, not asserted."""
    seeds = entry.get("seeds", [])
    lines = [f"{FLOORS_BLOCK_START} ({len(seeds)} seeds, {_seed_list(seeds)}, preset "
             f"`{entry.get('preset', '?')}`, {entry.get('date', '?')}; `notebooks/params/seed_figures.md`, "
             "checked by `tests/test_seeds.py`):", "", *floor_lines(entry)]
    if shown:
        lines += ["", SHOWN_START, ""]
        for name, what in shown:
            stats = entry["figures"].get(name)
            if stats is None:
                raise KeyError(f"{name!r} is shown in the audit block but the sweep recorded no such figure")
            lines.append(f"- `{name}`{f' ({what})' if what else ''}: {_fmt(stats['min'])} / "
                         f"{_fmt(stats['median'])} / {_fmt(stats['max'])}")
    return "\n".join(lines)


def shown_names(block: str) -> list[tuple[str, str]]:
    """The figures an audit block shows without asserting them (its ``SHOWN_START`` list), in order, each with
    the words in parentheses after its name."""
    return _SHOWN_NAME.findall(block.split(SHOWN_START, 1)[1]) if SHOWN_START in block else []


_FLOORS_BLOCK = re.compile(re.escape(FLOORS_BLOCK_START) + r".*?(?=\n\n</details>)", re.S)


def write_floors(table: dict[str, Any], folder: Path) -> list[Path]:
    """Rewrite the floors paragraph of each swept notebook's audit block (its last cell) from the table; return
    the notebooks changed. A notebook without such a paragraph is left alone."""
    import nbformat

    changed = []
    for stem, entry in table.items():
        path = Path(folder) / f"{stem}.ipynb"
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        last = nb.cells[-1] if nb.cells else None
        match = _FLOORS_BLOCK.search(last.source) if last is not None else None
        if match is None:
            continue
        block = floors_block(entry, shown_names(match.group(0)))
        new = last.source[:match.start()] + block + last.source[match.end():]
        if new != last.source:
            last.source = new
            nbformat.write(nb, path)
            changed.append(path)
    return changed


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


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.seeds --write-floors``: rewrite every notebook's floors paragraph from the committed
    table (``make seeds`` does it after each sweep)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.seeds", description=main.__doc__)
    parser.add_argument("--write-floors", action="store_true", required=True,
                        help="rewrite the floors paragraph of each swept notebook's audit block")
    parser.parse_args(argv)
    for path in write_floors(load(), TABLE.parents[1]):
        print(f"floors paragraph rewritten in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
