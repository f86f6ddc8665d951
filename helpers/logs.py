"""Reading back what training and tools wrote: JSON lines, CSVLogger files, TensorBoard event files, and
terminal colour codes. TensorFlow is imported only by the TensorBoard readers, so the runner and the
report can use :func:`strip_ansi`."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colour and cursor codes (IPython tracebacks, progress bars)


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape codes."""
    return ANSI.sub("", text)


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON-lines file (one JSON object per line, blank lines skipped) into a list of dicts."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}, line {number}: not JSON ({err.msg})") from err
    return rows


def read_csv_log(path: str | Path) -> dict[str, list[float]]:
    """Read a ``keras.callbacks.CSVLogger`` file into ``{column: [value per epoch]}`` (floats; epoch ints).

    CSVLogger writes ``NA`` for values it did not get (``val_*`` columns of a run without validation
    data): a column that is ``NA`` throughout is left out, a single ``NA`` reads as ``nan``.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    out: dict[str, list[float]] = {}
    for key in rows[0]:
        cells = [r[key] for r in rows]
        if key == "epoch":
            out[key] = [int(c) for c in cells]
        elif any(c != "NA" for c in cells):
            out[key] = [float("nan") if c == "NA" else float(c) for c in cells]
    return out


def columns(rows: Sequence[Mapping], keys: Iterable[str] | None = None) -> dict[str, list]:
    """Turn a list of per-epoch dicts into ``{key: [value per epoch]}`` (keys of the first row by default)."""
    if not rows:
        return {}
    keys = list(keys) if keys is not None else list(rows[0])
    return {key: [row[key] for row in rows] for key in keys}


def event_files(logdir: str | Path) -> list[Path]:
    """The TensorBoard event files under ``logdir``, sorted by path."""
    return sorted(p for p in Path(logdir).rglob("*") if p.is_file() and ".tfevents." in p.name)


def read_tensorboard_events(logdir: str | Path):
    """Yield ``(run, event)`` for every event in the files under ``logdir``; ``run`` is the event file's
    folder relative to ``logdir`` (Keras writes ``train`` and ``validation``). Imports TensorFlow."""
    import tensorflow as tf

    logdir = Path(logdir)
    for path in event_files(logdir):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            yield path.parent.relative_to(logdir).as_posix(), event


def read_tensorboard_scalars(logdir: str | Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Read every scalar the TensorBoard event files under ``logdir`` hold.

    Returns ``{run: {tag: [(step, value), ...]}}`` where ``run`` is the event file's folder relative to
    ``logdir`` (Keras writes ``train`` and ``validation``). Both summary styles are read: TF2
    ``tf.summary.scalar`` (a 0-d tensor) and TF1 ``simple_value``. Non-scalar tensors (graphs, images,
    histograms) are skipped.
    """
    import tensorflow as tf

    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run, event in read_tensorboard_events(logdir):
        tags = out.setdefault(run, {})
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                number = float(value.simple_value)
            elif kind == "tensor":
                array = tf.make_ndarray(value.tensor)
                if array.shape != () or not np.issubdtype(array.dtype, np.number):
                    continue
                number = float(array)
            else:
                continue
            tags.setdefault(value.tag, []).append((int(event.step), number))
    for tags in out.values():
        for series in tags.values():
            series.sort(key=lambda pair: pair[0])
    return out




def read_tensorboard_images(logdir: str | Path, tag: str) -> list[tuple[int, np.ndarray]]:
    """The images a ``tf.summary.image`` writer (e.g. tf-explain's GradCAMCallback) logged under ``tag``.

    Returns ``[(step, uint8 image (H, W, C)), ...]`` sorted by step, from every event file under ``logdir``.
    """
    import tensorflow as tf

    found = []
    for _, event in read_tensorboard_events(logdir):
        for value in event.summary.value:
            if value.tag == tag:
                encoded = tf.make_ndarray(value.tensor)[2:]  # [width, height, png, png, ...]
                found.extend((int(event.step), tf.io.decode_image(e).numpy()) for e in encoded)
    return sorted(found, key=lambda item: item[0])
