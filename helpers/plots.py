"""Concept diagrams drawn from a run's real set-up: all-reduce, DTensor layouts, serving, tuning.

Each function returns a :class:`matplotlib.figure.Figure` made without pyplot, so there is nothing to close
and nothing is shown twice: a notebook shows it as a cell's last expression (or with ``display(fig)``), a
script saves it with ``fig.savefig``. Taught in notebooks 02 (:func:`allreduce_diagram`), 03
(:func:`serving_topology_diagram`), 04 (:func:`tuner_diagram`) and 06 (:func:`mesh_layout_diagram`).
Imports no TensorFlow; bad arguments raise ``ValueError`` naming the problem.
"""

from __future__ import annotations

import dataclasses
import io
import math
import operator
from collections.abc import Mapping, Sequence

from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.textpath import text_to_path

from helpers.params import TUNER_NAMES, check_int

WIDTH = 9.0  # inches: a notebook's output width; the drawing's units are inches too
INK, MUTED = "#1d1d1f", "#555555"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]  # one colour per replica, device or shard
ROLES = {"client": "#7f7f7f", "port": "#17becf", "server": "#1f77b4", "queue": "#ff7f0e", "model": "#2ca02c",
         "label": "#9467bd", "chief": "#d62728", "worker": "#1f77b4", "reduce": "#9467bd", "refit": "#2ca02c"}
UNSHARDED = "unsharded"  # the value of tf.experimental.dtensor.UNSHARDED
MAX_COLUMNS = 6  # replicas or workers drawn side by side; more are elided in the middle
TUNER_CLASSES = {"random": "RandomSearch", "hyperband": "Hyperband", "bayesian": "BayesianOptimization"}
assert set(TUNER_CLASSES) == set(TUNER_NAMES), "one Keras Tuner class name for each tuner helpers.params allows"


class _Diagram(Figure):
    """A Figure that IPython shows as PNG even where no pyplot backend registered a formatter."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def _count(name: str, value, low: int = 1) -> int:
    """``value`` (an int or a NumPy integer) as an int >= low (:func:`helpers.params.check_int`)."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    try:
        return check_int(name, operator.index(value), minimum=low)
    except ValueError:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}") from None


def _device_names(devices, count: int, what: str) -> list[str]:
    """Short names ('/job:localhost/replica:0/task:0/device:CPU:0' -> 'CPU:0'), one per device."""
    if devices is None:
        return [f"device {i}" for i in range(count)]
    names = [str(d).rsplit("device:", 1)[-1] for d in devices]
    if len(names) != count:
        raise ValueError(f"{len(names)} device names given for {what} of {count} devices")
    return names


def _light(colour: str, amount: float = 0.8) -> tuple[float, ...]:
    return tuple(c + (1 - c) * amount for c in to_rgb(colour))


def _shown(n: int) -> list[int | None]:
    """The items that get a column: all, or the first few, an ellipsis (None) and the last."""
    return list(range(n)) if n <= MAX_COLUMNS else [*range(MAX_COLUMNS - 2), None, n - 1]


def _canvas(height: float, title: str):
    fig = _Diagram(figsize=(WIDTH, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, WIDTH), ylim=(0, height))
    ax.axis("off")
    ax.text(WIDTH / 2, height - 0.3, title, ha="center", va="center", fontsize=13, weight="bold", color=INK)
    return fig, ax


def _note(ax, x, y, text, size=8.5, **kw):
    kw = {"ha": "center", "va": "center", "color": MUTED, **kw}
    return ax.text(x, y, text, fontsize=size, **kw)


def _fit_text(ax, x, y, w, h, lines, sizes=(8.5, 7.5, 6.5)):
    """Centre ``lines`` in the box (x, y, w, h) at the largest size that fits; draw nothing if none does."""
    for size in sizes:
        font = FontProperties(size=size)
        wide = max(text_to_path.get_text_width_height_descent(s, font, ismath=False)[0] for s in lines) / 72
        if wide + 0.1 <= w and len(lines) * 1.3 * size / 72 + 0.06 <= h:
            return _note(ax, x + w / 2, y + h / 2, "\n".join(lines), size, color=INK, linespacing=1.3)
    return None


def _box(ax, x, y, w, h, lines, colour, fill=0.8):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.06", lw=1.2,
                                facecolor=_light(colour, fill), edgecolor=colour))
    return _fit_text(ax, x, y, w, h, lines) if lines else None


def _arrow(ax, x0, y0, x1, y1, colour=INK):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.2, shrinkA=0, shrinkB=0, mutation_scale=10))


def allreduce_diagram(num_replicas: int, per_replica_batch: int | None = None, devices: Sequence | None = None,
                      reduce: str = "sum") -> Figure:
    """One step of synchronous data parallelism (``MirroredStrategy``), taught in notebook 02.

    The global batch is cut into one slice per replica, each replica computes gradients on its own copy of the
    model, an all-reduce (``reduce``: "sum" or "mean") combines them and every replica applies the same update.
    ``per_replica_batch`` (rows per slice) labels the rows; ``devices`` (one name per replica, e.g. the
    strategy's devices) labels the replicas. More than 6 replicas are drawn as the first 4, "…" and the last.
    """
    n = _count("num_replicas", num_replicas)
    names = _device_names(devices, n, "num_replicas")
    rows = None if per_replica_batch is None else _count("per_replica_batch", per_replica_batch)
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    s = "s" * (n > 1)
    fig, ax = _canvas(5.8, f"Synchronous data parallelism: one training step on {n} replica{s}")
    shown, x0, x1 = _shown(n), 1.45, WIDTH - 0.15
    col = (x1 - x0) / len(shown)
    for y, text in [(4.62, "1. split the\nglobal batch"), (3.4, "2. gradients\non each copy"),
                    (1.95, "3. all-reduce"), (0.82, "4. the same\nupdate")]:
        _note(ax, 0.15, y, text, 9, ha="left")
    _note(ax, (x0 + x1) / 2, 5.0, f"global batch of {n * rows} rows = {n} replica{s} × {rows} rows" if rows
          else f"global batch, cut into {n} slice{s}", 9.5, color=INK)
    for c, i in enumerate(shown):
        left, cx = x0 + c * col, x0 + (c + 0.5) * col
        if i is None:
            for y in (4.62, 3.4, 0.82):
                _note(ax, cx, y, "…", 14)
            continue
        colour = PALETTE[i % len(PALETTE)]
        ax.add_patch(Rectangle((left, 4.45), col, 0.35, facecolor=_light(colour, 0.55), edgecolor="white", lw=2))
        _fit_text(ax, left, 4.45, col, 0.35, [f"rows {i * rows}–{(i + 1) * rows - 1}" if rows else f"slice {i}"])
        _arrow(ax, cx, 4.45, cx, 4.07, colour)
        _box(ax, left + 0.07, 2.75, col - 0.14, 1.3,
             [f"replica {i}", names[i], "model copy w", "forward, backward", f"→ gradients g{i}"], colour)
        _arrow(ax, cx, 2.75, cx, 2.27, colour)
        _arrow(ax, cx, 1.63, cx, 1.22, ROLES["reduce"])
        _box(ax, left + 0.07, 0.45, col - 0.14, 0.75, [f"replica {i}", "optimizer step", "with the same g"], colour)
    total = " + ".join([f"g{i}" for i in range(n)] if n <= 4 else ["g0", "g1", "…", f"g{n - 1}"])
    _box(ax, x0 + 0.07, 1.65, x1 - x0 - 0.14, 0.6, [f"all-reduce ({reduce}): g = "
         + (total if reduce == "sum" else f"({total}) / {n}"), "every replica receives the same g"], ROLES["reduce"])
    _note(ax, WIDTH / 2, 0.2, "Every copy applies the same update, so the copies stay identical: the same step as "
          "one device on the whole batch.", style="italic")
    return fig


def shard_holders(mesh_dims, tensor_shape: Sequence[int], layout_dims: Sequence[str]) -> dict[tuple, list[int]]:
    """Which devices hold each shard of a tensor under a DTensor layout (checked against DTensor in the tests).

    ``mesh_dims``: ``[(name, size), ...]`` or a dict, 1 or 2 dimensions, devices numbered row-major as
    ``dtensor.create_mesh`` numbers them; ``layout_dims``: per tensor axis a mesh dimension name or
    ``"unsharded"``. Returns {shard index per axis: [device numbers]}; a shard held by several devices is
    replicated over the mesh dimensions the layout does not use. Raises ValueError for what DTensor refuses.
    """
    items = list(mesh_dims.items() if isinstance(mesh_dims, Mapping) else mesh_dims)
    if len(items) not in (1, 2):
        raise ValueError(f"mesh_dims: draws meshes of 1 or 2 dimensions, got {len(items)}")
    sizes: dict[str, int] = {}
    for item in items:
        if not (isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"mesh dimension {item!r} must be a (name, size) pair")
        if item[0] in sizes or item[0] == UNSHARDED:
            raise ValueError(f"mesh dimension name {item[0]!r} is used twice or is reserved")
        sizes[item[0]] = _count(f"size of mesh dimension {item[0]!r}", item[1])
    shape = [_count(f"tensor_shape[{a}]", s) for a, s in enumerate(tensor_shape)]
    layout = list(layout_dims)
    if len(shape) not in (1, 2):
        raise ValueError(f"tensor_shape: draws tensors of rank 1 or 2, got {tuple(shape)}")
    if len(layout) != len(shape):
        raise ValueError(f"layout {layout} has {len(layout)} entries, but the tensor has rank {len(shape)}")
    for axis, spec in enumerate(layout):
        if spec == UNSHARDED:
            continue
        if spec not in sizes:
            raise ValueError(f"layout names mesh dimension {spec!r}, which the mesh does not have (it has "
                             f"{', '.join(map(repr, sizes))})")
        if layout.count(spec) > 1:
            raise ValueError(f"mesh dimension {spec!r} shards two tensor axes; a layout uses each mesh dimension once")
        if shape[axis] % sizes[spec]:
            raise ValueError(f"tensor axis {axis} has size {shape[axis]}, not divisible by mesh dimension "
                             f"{spec!r} of size {sizes[spec]}")
    holders: dict[tuple, list[int]] = {}
    for device in range(math.prod(sizes.values())):
        coords, rest = {}, device
        for name, size in reversed(sizes.items()):  # row-major: the last mesh dimension varies fastest
            coords[name], rest = rest % size, rest // size
        holders.setdefault(tuple(0 if s == UNSHARDED else coords[s] for s in layout), []).append(device)
    return holders


def mesh_layout_diagram(mesh_dims, tensor_shape: Sequence[int], layout_dims: Sequence[str],
                        devices: Sequence | None = None, tensor_name: str = "tensor") -> Figure:
    """A DTensor mesh and a tensor sharded over it by a layout, taught in notebook 06.

    Left: the tensor (rank 1 or 2) as a grid of shards, each coloured and labelled with the devices holding it
    and its shape; right: the mesh, each device coloured by the shard it holds. For example
    ``mesh_layout_diagram([("model", 4)], (64, 64), ["unsharded", "model"], devices=rt.devices)``. Raises
    ValueError as :func:`shard_holders` does, and when ``devices`` does not name every device of the mesh.
    """
    holders = shard_holders(mesh_dims, tensor_shape, layout_dims)
    dims = list(mesh_dims.items() if isinstance(mesh_dims, Mapping) else mesh_dims)
    shape, layout, sizes = tuple(tensor_shape), list(layout_dims), dict(dims)
    names = _device_names(devices, math.prod(sizes.values()), "a mesh")
    blocks = [1 if spec == UNSHARDED else sizes[spec] for spec in layout]
    colour_of = {block: PALETTE[k % len(PALETTE)] for k, block in enumerate(sorted(holders))}
    gx, gw = 1.0, 4.4
    gh = min(2.4, max(1.0, gw * shape[0] / shape[1])) if len(shape) == 2 else 0.8
    rows, cols = blocks if len(shape) == 2 else (1, blocks[0])
    mrows, mcols = [1, *sizes.values()][-2:]
    mx, mw, mch = 6.1, WIDTH - 6.3, min(0.75, 2.3 / mrows)
    height = 1.0 + max(gh + 0.25 * len(shape), mrows * mch + 0.25) + 0.85
    fig, ax = _canvas(height, f"DTensor: a {'×'.join(map(str, shape))} tensor on a mesh of {len(names)} devices")
    top = height - 1.0
    _note(ax, gx + gw / 2, top + 0.3, f"{tensor_name}: layout {layout}", 9.5, color=INK)
    for block, held in holders.items():
        r, c = block if len(shape) == 2 else (0, block[0])
        x, y, w, h = gx + c * gw / cols, top - (r + 1) * gh / rows, gw / cols, gh / rows
        ax.add_patch(Rectangle((x, y), w, h, facecolor=_light(colour_of[block], 0.55), edgecolor="white", lw=2))
        who = [names[d] for d in held] if len(held) <= 3 else [f"{len(held)} devices"]
        _fit_text(ax, x, y, w, h, [*who, "×".join(str(s // b) for s, b in zip(shape, blocks, strict=True))])
    for axis, spec in enumerate(layout):
        what = "" if len(shape) == 1 else (" rows", " columns")[axis]
        how = f"sharded on {spec!r}: {blocks[axis]} shards of {shape[axis] // blocks[axis]}"
        how = "unsharded" if spec == UNSHARDED else how
        _note(ax, gx + gw / 2, top - gh - 0.2 - 0.25 * axis, f"axis {axis} ({shape[axis]}{what}): {how}", color=INK)
    if len(shape) == 2:
        _note(ax, gx - 0.2, top - gh / 2, "axis 0", rotation=90)
    _note(ax, mx + mw / 2, top + 0.3, "mesh " + " × ".join(f"{d}={s}" for d, s in dims), 9.5, color=INK)
    block_of = {d: block for block, held in holders.items() for d in held}
    for d, name in enumerate(names):
        r, c = divmod(d, mcols)
        x, y, w, h = mx + c * mw / mcols + 0.04, top - (r + 1) * mch + 0.04, mw / mcols - 0.08, mch - 0.08
        _box(ax, x, y, w, h, None, colour_of[block_of[d]], fill=0.55)
        if _fit_text(ax, x, y, w, h, [name, f"({r}, {c})" if len(dims) == 2 else f"({c})"]) is None:
            _fit_text(ax, x, y, w, h, [str(d)])
    _note(ax, mx + mw / 2, top - mrows * mch - 0.2, f"{dims[-1][0]} ({dims[-1][1]}) →", color=INK)
    if len(dims) == 2:
        _note(ax, mx - 0.2, top - mrows * mch / 2, f"← {dims[0][0]} ({dims[0][1]})", color=INK, rotation=90)
    unused = [name for name in sizes if name not in layout]
    _note(ax, WIDTH / 2, 0.3, "Same colour = same shard; " + (f"the layout does not use {', '.join(map(repr, unused))}"
          ": each shard is replicated over it." if unused else "each device holds one shard."), style="italic")
    return fig


def _models(models) -> list[tuple[str, list[int], dict[str, int]]]:
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"models must be a non-empty dict of model name -> {{'versions': [...]}}, got {models!r}")
    specs = []
    for name, spec in models.items():
        if not isinstance(spec, Mapping) or "versions" not in spec or set(spec) - {"versions", "labels"}:
            raise ValueError(f"model {name!r} needs a dict with 'versions' (and 'labels'), got {spec!r}")
        versions = [_count(f"model {name!r} version", v, low=0) for v in spec["versions"]]
        if not versions or len(set(versions)) != len(versions):
            raise ValueError(f"model {name!r} needs distinct versions, got {spec['versions']!r}")
        labels = dict(spec.get("labels") or {})
        for label, version in labels.items():
            if version not in versions:
                raise ValueError(f"label {label!r} of model {name!r} points to version {version!r}, which is not "
                                 f"served (versions {versions})")
        specs.append((str(name), versions, labels))
    return specs


def serving_topology_diagram(models: Mapping, batching=True, rest: int | str | None = 8501,
                             grpc: int | str | None = 8500) -> Figure:
    """Clients -> REST/gRPC ports -> model server -> models and their versions, taught in notebook 03.

    ``models``: ``{"mnist": {"versions": [1, 2], "labels": {"stable": 1, "canary": 2}}}``: each version is drawn
    with the labels that point to it. ``batching``: False (no queue), True (a batching queue in front of each
    model), or the batching parameters (a dict or a dataclass such as ``bench.default_batching(clients)``) to
    print in the queue. ``rest`` / ``grpc``: a port or an address (``srv.rest``, ``srv.grpc_target``), or None
    for a server without that API (started with ``rest=False``, say).
    """
    specs = _models(models)
    if dataclasses.is_dataclass(batching) and not isinstance(batching, type):
        batching = dataclasses.asdict(batching)
    if batching is not None and not isinstance(batching, bool | Mapping):
        raise ValueError(f"batching must be True, False or the batching parameters, got {batching!r}")
    queue = batching is True or isinstance(batching, Mapping)
    params = [f"{k}={batching[k]}" for k in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches")
              if isinstance(batching, Mapping) and k in batching]
    apis = [(["REST client", "HTTP + JSON"], ["REST API", rest, "/v1/models/…"]),
            (["gRPC client", "PredictionService"], ["gRPC API", grpc, "Predict, …"])]
    apis = [(client, [api, f":{where}" if isinstance(where, int) else str(where), what])
            for client, (api, where, what) in apis if where is not None]
    if not apis:
        raise ValueError("rest and grpc are both None: a server needs at least one API")
    heights = [max(0.6 + 0.42 * len(versions), 0.5 + 0.17 * len(params)) for _, versions, _ in specs]
    stack = sum(heights) + 0.2 * (len(specs) - 1)
    height = max(2.1 + 1.1 * len(apis), stack + 1.95)
    fig, ax = _canvas(height, "Serving: clients → API ports → model server → model versions")
    top, bottom = height - 0.75, 0.6
    mid = (top + bottom) / 2
    _box(ax, 3.95, bottom, WIDTH - 4.1, top - bottom, None, ROLES["server"], fill=0.93)
    _note(ax, 4.1, top - 0.17, "model server (tensorflow_model_server, or python -m helpers.serving)", 8, ha="left")
    for dy, (client, port) in zip([0.55, -0.55] if len(apis) == 2 else [0], apis, strict=True):
        _box(ax, 0.15, mid + dy - 0.4, 1.6, 0.8, client, ROLES["client"])
        _arrow(ax, 1.75, mid + dy, 2.15, mid + dy, ROLES["client"])
        _box(ax, 2.15, mid + dy - 0.4, 1.5, 0.8, port, ROLES["port"])
        ax.plot([3.65, 3.95], [mid + dy, mid], color=ROLES["port"], lw=1.2)
    y, model_x, vx, vw = min(top - 0.35, mid + stack / 2), 6.1 if queue else 4.3, WIDTH - 0.45 - 1.1, 1.1
    for (name, versions, labels), h in zip(specs, heights, strict=True):
        y -= h
        _arrow(ax, 3.95, mid, 4.2 if queue else model_x, y + h / 2, ROLES["port"])
        if queue:
            _box(ax, 4.2, y, 1.55, h, None, ROLES["queue"])
            _fit_text(ax, 4.2, y + 0.22, 1.55, h - 0.22, ["batching queue", *params])
            for k in range(4):
                ax.add_patch(Rectangle((4.5 + k * 0.24, y + 0.07), 0.18, 0.15, color=ROLES["queue"]))
            _arrow(ax, 5.75, y + h / 2, model_x, y + h / 2, ROLES["queue"])
        _box(ax, model_x, y, WIDTH - 0.3 - model_x, h, None, ROLES["model"], fill=0.88)
        _fit_text(ax, model_x, y + h - 0.36, WIDTH - 0.3 - model_x, 0.32, [f"model {name!r}"])
        for k, version in enumerate(versions):
            vy = y + h - 0.78 - 0.42 * k
            _box(ax, vx, vy, vw, 0.32, [f"version {version}"], ROLES["model"], fill=0.6)
            if tags := [label for label, v in labels.items() if v == version]:
                lw = min(1.3, vx - 0.45 - model_x)
                _box(ax, vx - 0.3 - lw, vy + 0.02, lw, 0.28, [", ".join(tags)], ROLES["label"], fill=0.75)
                _arrow(ax, vx - 0.3, vy + 0.16, vx, vy + 0.16, ROLES["label"])
        y -= 0.2
    _note(ax, WIDTH / 2, 0.3, "Requests name a version (/versions/2) or a label (/labels/canary); moving a label "
          "is a config change, not a client release." + ("\nWith --enable_batching, requests for the same version "
          "wait in the queue and run as one batched call." if queue else ""), 8, style="italic")
    return fig


def tuner_diagram(num_workers: int, tuner: str = "random", max_trials: int | None = None,
                  oracle_ip: str = "127.0.0.1", oracle_port: int | None = None, refit: bool = True) -> Figure:
    """Keras Tuner's distributed search, taught in notebook 04: a chief runs the oracle, workers run trials.

    Every process reads ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT`` (the chief's gRPC server) and
    its own ``KERASTUNER_TUNER_ID`` ("chief", "tuner0", ...). A worker asks the oracle for a trial
    (``create_trial``), fits it, reports its metrics (``update_trial``, ``end_trial``) and asks again until
    the budget is spent; with ``refit`` the best trial's hyperparameters are refit after the search.
    ``tuner``: "random", "hyperband" or "bayesian" (the notebook's parameter). More than 6 workers are elided.
    """
    n = _count("num_workers", num_workers)
    if tuner not in TUNER_CLASSES:
        raise ValueError(f"tuner must be one of {sorted(TUNER_NAMES)}, got {tuner!r}")
    budget = "" if max_trials is None else f", max_trials={_count('max_trials', max_trials)}"
    port = "<port>" if oracle_port is None else _count("oracle_port", oracle_port)
    fig, ax = _canvas(5.4, f"Distributed Keras Tuner search: one chief (oracle), {n} worker{'s' * (n > 1)}")
    _note(ax, WIDTH / 2, 4.72, f"every process: KERASTUNER_ORACLE_IP={oracle_ip}   KERASTUNER_ORACLE_PORT={port}   "
          "KERASTUNER_TUNER_ID=its role")
    cx0, cw = 0.3, 5.6
    _box(ax, cx0, 3.35, cw, 1.1, ["chief: KERASTUNER_TUNER_ID=chief", f"oracle: {TUNER_CLASSES[tuner]}Oracle{budget}",
                                  f"gRPC server on {oracle_ip}:{port}",
                                  "picks each trial's hyperparameters, keeps the results; trains nothing"],
         ROLES["chief"])
    if refit:
        _box(ax, 6.4, 3.35, WIDTH - 6.55, 1.1, ["after the search:", "best trial's hyperparameters",
                                                "(get_best_hyperparameters)", "refit on train + validation"],
             ROLES["refit"])
        _arrow(ax, cx0 + cw, 3.9, 6.4, 3.9, ROLES["refit"])
    shown, x0 = _shown(n), 0.3
    col = (WIDTH - 0.15 - x0) / len(shown)
    for c, i in enumerate(shown):
        wx, px = x0 + (c + 0.5) * col, cx0 + 0.4 + (cw - 0.8) * (c + 0.5) / len(shown)
        if i is None:
            _note(ax, wx, 1.8, "…", 14)
            continue
        _arrow(ax, px - 0.1, 3.33, wx - 0.14, 2.37, ROLES["chief"])
        _arrow(ax, wx + 0.14, 2.37, px + 0.1, 3.33, ROLES["worker"])
        _box(ax, x0 + c * col + 0.07, 1.25, col - 0.14, 1.1,
             ["worker", "KERASTUNER_TUNER_ID", f"= tuner{i}", "fits the trial's model"], ROLES["worker"])
    for k, (text, colour) in enumerate([
            ("↓ create_trial(tuner_id): the next trial's hyperparameters", ROLES["chief"]),
            ("↑ update_trial, end_trial: the trial's metrics", ROLES["worker"]),
            ("Workers ask again until the oracle's budget is spent; their calls wait for the chief (wait_for_ready).",
             MUTED)]):
        _note(ax, 0.3, 0.95 - 0.3 * k, text, ha="left", color=colour)
    return fig
