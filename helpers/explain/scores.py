"""Scoring explanations against a known right answer (notebook 07_interpretability).

NumPy-only plumbing, no TensorFlow: rankings of feature attributions, the top-k exact-match fraction and its
random-ranking baseline, the pointing game and the share of saliency mass inside an object's mask with
their random baselines, a rank-correlation sanity check, timing, and the table that ranks the methods.
The saliency maps themselves come from :mod:`helpers.explain.saliency` (tf-explain).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np


def top_k_features(attributions: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``|attribution|`` per row, largest first, shape (n, k).

    Ties keep the lower index first (a stable sort): deterministic, and a method that gives many features
    the same score earns no credit from ties (the synthetic set's relevant features are not the first ones).
    """
    a = np.abs(np.atleast_2d(np.asarray(attributions, dtype="float64")))
    if not 1 <= k <= a.shape[1]:
        raise ValueError(f"k must be in [1, {a.shape[1]}], got {k}")
    return np.argsort(-a, axis=1, kind="stable")[:, :k]


def topk_exact_match(attributions: np.ndarray, relevant: Iterable[int]) -> float:
    """Fraction of rows whose top-k features (k = number of relevant ones) are exactly the relevant set."""
    relevant = set(int(i) for i in relevant)
    top = top_k_features(attributions, len(relevant))
    return float(np.mean([set(row.tolist()) == relevant for row in top]))


def random_topk_chance(num_features: int, k: int) -> float:
    """The chance that a uniformly random ranking puts exactly the k relevant features on top: 1 / C(n, k)."""
    if not 1 <= k <= num_features:
        raise ValueError(f"k must be in [1, num_features={num_features}], got {k}")
    return 1.0 / math.comb(num_features, k)


def random_attributions(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Uniform random non-negative attributions (or saliency maps) of ``shape``: the random baseline."""
    return np.random.default_rng(seed).random(tuple(shape))


def random_ranking_score(num_rows: int, num_features: int, relevant: Iterable[int], seed: int = 0) -> float:
    """:func:`topk_exact_match` of random rankings of ``num_rows`` rows: the empirical random baseline."""
    return topk_exact_match(random_attributions((num_rows, num_features), seed), relevant)


def topk_overlap(attribution_sets: Sequence[np.ndarray], k: int) -> float:
    """Mean pairwise Jaccard overlap of the top-k features of several explanations of ONE instance.

    1.0: every run named the same k features; a measure of an explainer's stability across seeds.
    """
    tops = [set(top_k_features(a, k)[0].tolist()) for a in attribution_sets]
    if len(tops) < 2:
        raise ValueError("topk_overlap needs at least two explanations")
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2)]))


def lime_weights(explanation: Any, label: int, num_features: int) -> np.ndarray:
    """A LIME explanation's weights as a dense vector (features LIME did not keep get 0)."""
    dense = np.zeros(num_features)
    for index, weight in explanation.as_map()[label]:
        dense[index] = weight
    return dense


def _check_maps(saliency: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(saliency, dtype="float64")
    m = np.asarray(masks, dtype=bool)
    if s.shape != m.shape or s.ndim != 3:
        raise ValueError(f"saliency and masks must both be (n, H, W); got {s.shape} and {m.shape}")
    return s, m


def pointing_hits(saliency: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: is the most salient pixel inside the object's mask? (bool array of length n)."""
    s, m = _check_maps(saliency, masks)
    flat = s.reshape(len(s), -1).argmax(axis=1)
    return m.reshape(len(m), -1)[np.arange(len(m)), flat]


def pointing_game(saliency: np.ndarray, masks: np.ndarray) -> float:
    """Pointing-game accuracy: the fraction of images whose most salient pixel lies inside the mask."""
    return float(np.mean(pointing_hits(saliency, masks)))


def mask_mass_share(saliency: np.ndarray, masks: np.ndarray) -> float:
    """Mean share of (non-negative) saliency mass inside the mask; negative values count as 0.

    An all-zero map says nothing and scores like a uniform one: its mask's share of the image.
    """
    s, m = _check_maps(saliency, masks)
    s = np.clip(s, 0, None)
    total = s.sum(axis=(1, 2))
    inside = (s * m).sum(axis=(1, 2))
    share = np.where(total > 0, inside / np.where(total > 0, total, 1), m.mean(axis=(1, 2)))
    return float(share.mean())


def random_saliency_baseline(masks: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Pointing game and mass share of uniform random maps, and their expectation (mean mask area share)."""
    noise = random_attributions(np.shape(masks), seed)
    return {"pointing": pointing_game(noise, masks), "mass_share": mask_mass_share(noise, masks),
            "expected": float(np.asarray(masks, bool).mean())}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally shaped arrays (flattened); ties get their average rank."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_correlation(first: np.ndarray, second: np.ndarray, absolute: bool = True) -> float:
    """Mean per-instance Spearman correlation of two batches of explanations (rows or maps), of ``|.|``.

    The sanity check of Adebayo et al. (2018): explanations of a model with randomized weights should
    NOT correlate with those of the trained model; a method that gives the same picture either way
    explains the input, not the model.
    """
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} and {second.shape}")
    if absolute:
        first, second = np.abs(first), np.abs(second)
    return float(np.mean([spearman(a, b) for a, b in zip(first, second, strict=True)]))


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``fn(*args, **kwargs)``; return ``(result, seconds)`` measured with ``time.perf_counter``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def ranking_table(rows: Sequence[dict[str, Any]]):
    """A pandas table ranking methods within each task: best score first, then fewer seconds.

    Each row: ``task``, ``method``, ``score`` (the task's main ground-truth score), ``baseline`` (the
    random baseline of that score), ``seconds`` (per explanation); extra keys become extra columns.
    Adds ``x_random`` (score / baseline) and ``rank`` (1 = best in its task).
    """
    import pandas as pd

    required = {"task", "method", "score", "baseline", "seconds"}
    for row in rows:
        missing = required - set(row)
        if missing:
            raise ValueError(f"row {row!r} lacks {sorted(missing)}")
    table = pd.DataFrame(list(rows))
    table["x_random"] = table["score"] / table["baseline"].where(table["baseline"] > 0)
    table = table.sort_values(["task", "score", "seconds"], ascending=[True, False, True])
    table["rank"] = table.groupby("task").cumcount() + 1
    return table.set_index(["task", "rank"])
