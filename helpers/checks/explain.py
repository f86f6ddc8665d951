"""Checks of the interpretability exercises (``07_interpretability``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.checks import check_answer, check_callable


def check_top_two(top_two: Any) -> None:
    """Exercise: the two features with the largest SHAP values (by size) in the linear example."""
    check_answer(top_two, ["dose", "height"], "rank features by the size of their SHAP value, not its sign")


def check_linear_shap(linear_shap: Any) -> None:
    """Exercise: exact SHAP values of a linear model, compared with Kernel SHAP on three random cases."""
    import shap

    rng = np.random.default_rng(1)
    cases = []
    for _ in range(3):
        w, bg, x = rng.normal(size=4), rng.normal(size=(15, 4)), rng.normal(size=4)
        kernel_answer = shap.KernelExplainer(lambda rows, w=w: rows @ w, bg).shap_values(x[None], silent=True)[0]
        cases.append(((w, x, bg), kernel_answer))
    check_callable(linear_shap, cases, "subtract the background mean, then multiply by the weight",
                   compare=lambda got, want: np.allclose(got, want, atol=1e-6))


def check_points_inside(points_inside: Any) -> None:
    """Exercise: the pointing game for one saliency map and its mask."""
    box = np.zeros((5, 5), bool)
    box[1:3, 1:3] = True
    peak_inside, peak_outside = np.zeros((5, 5)), np.zeros((5, 5))
    peak_inside[2, 1], peak_outside[4, 4] = 1.0, 1.0
    check_callable(points_inside, [((peak_inside, box), True), ((peak_outside, box), False),
                                   ((peak_inside.T, box), True), ((peak_outside - 1, ~box), True)],
                   "find the (row, column) of the largest value and look it up in the mask")
