"""Checks of the interpretability exercises (``07_interpretability``).

1. (warm-up) the two largest SHAP values by size;
2. integrated gradients written by hand: completeness (each image's attributions add up to
   F(x) - F(baseline)) with a black and a grey baseline, agreement with tf-explain's ``IntegratedGradients``
   on the learner's own model and images, and the maps scored on the ground-truth masks beside tf-explain's;
3. occlusion sensitivity by hand: equal to tf-explain's ``OcclusionSensitivity`` (turned into the drop in the
   class probability) for two patch sizes; its ground-truth scores are printed beside tf-explain's.

Exercises 2 and 3 are compared with tf-explain on the learner's own model and images, computed inside the
check, so they pass for any seed. Exercise 2's tolerances, against what the solution gives on the exercise's
model (the shapes CNN after 2 epochs, test accuracy 0.62-0.97), 20 test images, ``m_steps=50``, seeds 0-9:
the worst image's completeness gap min / median / max 0.0020 / 0.0046 / 0.0070, at most 0.0039 above
5 % of |F(x) - F(baseline)| (allowed: 0.01 + 5 %); the largest per-image L1 distance to tf-explain's
attributions 1.0 / 1.3 / 2.0 % (allowed 5 %: tf-explain takes the plain mean of the 51 gradients, the
trapezoidal rule halves the two ends); mass in the mask within 0.001 of tf-explain's (allowed 0.05).
Exercise 3 is exact up to float32 round-off. TensorFlow, tf-explain and OpenCV are imported inside the checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.checks import ExerciseError, check, check_answer, fuller_hint
from helpers.explain import scores

GREY = 127.5  # tf-explain's occlusion patch value, and exercise 2's second baseline
IG_STEPS = 50  # m_steps the check passes; tf-explain gets the same m_steps + 1 points
# completeness: |sum of attributions - (F(x) - F(baseline))| <= IG_ATOL + IG_RTOL * |F(x) - F(baseline)|;
# the solution's worst image over seeds 0-9 (black and grey baseline): 0.0070, 0.0039 above the 5 % part
IG_ATOL, IG_RTOL = 0.01, 0.05
IG_SCORE_TOLERANCE = 0.05  # mass in the mask, learner's vs tf-explain's maps (the solution: < 0.001)
IG_AGREEMENT = 0.05  # per image, L1 distance to tf-explain's attributions / L1 norm of tf-explain's (~0.01)
OCCLUSION_ATOL = 1e-4  # float32 probabilities, the same model calls in another batch order


def check_top_two(top_two: Any) -> None:
    """Exercise 1: the two features with the largest SHAP values (by size) in the linear example."""
    check_answer(top_two, ["dose", "height"], "rank features by the size of their SHAP value, not its sign")


def _function(answer: Any, hint: str) -> None:
    if answer is None or answer is Ellipsis or not callable(answer):
        raise ExerciseError(f"No function yet. Hint: {hint}")


def _per_class(fn: Any, name: str, shape_of: Any, labels: np.ndarray, images: np.ndarray, *args: Any,
               **kwargs: Any) -> np.ndarray:
    """Call ``fn(model, images_of_class_c, c, *args)`` once per class; check each result's shape."""
    out = None
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        got = np.asarray(fn(args[0], images[rows].copy(), int(c), *args[1:], **kwargs), dtype="float64")
        want = shape_of(images[rows])
        check(got.shape == want, f"{name} returned shape {got.shape} for {len(rows)} images of shape "
                                 f"{images.shape[1:]}; it must return shape {want}")
        check(bool(np.isfinite(got).all()), f"{name} returned NaN or infinite values")
        if out is None:
            out = np.zeros((len(images), *got.shape[1:]))
        out[rows] = got
    return out


def _class_probability(model: Any, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    probabilities = np.asarray(model(np.asarray(images, dtype="float32"), training=False), dtype="float64")
    return probabilities[np.arange(len(images)), labels]


def _score_table(maps: dict[str, np.ndarray], masks: np.ndarray) -> dict[str, tuple[float, float]]:
    """Pointing game and mass in the mask of each named (n, H, W) map, printed as a small table."""
    table = {name: (scores.pointing_game(m, masks), scores.mask_mass_share(m, masks)) for name, m in maps.items()}
    print(f"{'map':<28} pointing game  mass in mask   (a random map: about {float(np.mean(masks)):.3f})")
    for name, (pointing, mass) in table.items():
        print(f"{name:<28} {pointing:>13.3f}  {mass:>12.3f}")
    return table


def _completeness(integrated_gradients: Any, model: Any, images: np.ndarray, labels: np.ndarray,
                  baseline: np.ndarray, what: str, advice: str) -> np.ndarray:
    """The learner's attributions of ``images`` from ``baseline``, after checking that each image's add up
    to F(x) - F(baseline) within ``IG_ATOL + IG_RTOL * |F(x) - F(baseline)|``."""
    attributions = _per_class(integrated_gradients, "integrated_gradients", lambda x: x.shape, labels, images,
                              model, baseline.copy(), m_steps=IG_STEPS)
    check(bool(np.abs(attributions).sum(axis=(1, 2, 3)).max() > 1e-4),
          f"every attribution is (nearly) 0 ({what} baseline). Differentiate the probability of class_index alone, "
          "model(path)[:, class_index]: the sum over all classes of a softmax is 1 and its gradient 0")
    total = attributions.sum(axis=(1, 2, 3))
    difference = _class_probability(model, images, labels) - _class_probability(
        model, np.repeat(baseline[None], len(images), axis=0), labels)
    gap = np.abs(total - difference)
    worst = int(np.argmax(gap - IG_RTOL * np.abs(difference)))
    check(bool(np.all(gap <= IG_ATOL + IG_RTOL * np.abs(difference))),
          f"completeness fails with the {what} baseline: one image's attributions sum to {total[worst]:.4f}, "
          f"but F(x) - F(baseline) = {difference[worst]:.4f} (allowed gap {IG_ATOL} + {IG_RTOL:.0%}). {advice}")
    return attributions


@fuller_hint("alphas = m_steps + 1 values from 0 to 1 (tf.linspace); for one image the path is a batch "
             "(m_steps + 1, H, W, C), baseline + alpha * (image - baseline); watch it on a tf.GradientTape, take "
             "the gradient of model(path)[:, class_index] with respect to the path; the trapezoidal rule averages "
             "each pair of neighbouring gradients, then takes the mean over the m_steps pairs; multiply that "
             "(H, W, C) average by (image - baseline). Stack the images' results into (n, H, W, C).")
def check_integrated_gradients(integrated_gradients: Any, model: Any, images: np.ndarray, labels: np.ndarray,
                               masks: np.ndarray) -> None:
    """Exercise 2: ``integrated_gradients(model, images, class_index, baseline, m_steps)`` by hand.

    Called for each class's images with ``m_steps=50``, in this order: completeness with a black baseline
    (every image) and a grey (127.5) one (two images of each class); the maps' ground-truth scores
    (|attributions| summed over the channels) within 0.05 (mass in the mask) and 0.15 (pointing game) of
    tf-explain's path-averaged gradient times the images (the same 51 points, black baseline), which
    rejects attributions that add up right but sit in the wrong pixels; then agreement with those
    attributions within 5 % (L1) per image.
    """
    from tf_explain.core import IntegratedGradients

    _function(integrated_gradients, "integrated_gradients(model, images, class_index, baseline, m_steps=50) "
                                    "returning attributions of the images' shape")
    images, labels = np.asarray(images, dtype="float32"), np.asarray(labels).astype(int)
    black, grey = np.zeros(images.shape[1:], "float32"), np.full(images.shape[1:], GREY, "float32")
    mine = _completeness(integrated_gradients, model, images, labels, black, "black",
                         "Average the gradients along the whole path and multiply by (x - baseline).")
    few = np.concatenate([np.flatnonzero(labels == c)[:2] for c in np.unique(labels)])
    _completeness(integrated_gradients, model, images[few], labels[few], grey, "grey (127.5)",
                  "The path starts at the baseline, not at 0, and the last factor is (x - baseline), not x.")
    theirs = np.zeros(images.shape)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        paths = IntegratedGradients.generate_interpolations(images[rows], IG_STEPS + 1)
        averaged = IntegratedGradients.get_integrated_gradients(paths, model, int(c), IG_STEPS + 1)
        theirs[rows] = np.asarray(averaged) * images[rows]  # tf-explain omits the factor (x - 0)
    table = _score_table({"your integrated gradients": np.abs(mine).sum(axis=-1),
                          "tf-explain x images": np.abs(theirs).sum(axis=-1)}, masks)
    (p_mine, m_mine), (p_theirs, m_theirs) = table.values()
    check(abs(m_mine - m_theirs) <= IG_SCORE_TOLERANCE and p_mine >= p_theirs - 0.15,
          f"your maps (|attributions| summed over the channels) score {p_mine:.2f} / {m_mine:.2f} on the ground "
          f"truth (pointing game / mass in mask), tf-explain's {p_theirs:.2f} / {m_theirs:.2f}: attributions that "
          "add up right are not enough, each pixel's must come from the gradients along the path")
    distance = np.abs(mine - theirs).sum(axis=(1, 2, 3)) / np.abs(theirs).sum(axis=(1, 2, 3))
    worst = int(np.argmax(distance))
    check(bool(distance.max() <= IG_AGREEMENT),
          f"image {worst}'s attributions differ from tf-explain's (its path-averaged gradient x images, same "
          f"{IG_STEPS + 1} points) by {distance[worst]:.1%} (L1), more than {IG_AGREEMENT:.0%}: alpha must run "
          "from 0 to 1 in m_steps + 1 points, and each image needs the gradient of its own class_index")
    print(f"Correct: complete within {IG_ATOL} + {IG_RTOL:.0%} for both baselines, within "
          f"{distance.max():.1%} of tf-explain's attributions.")


@fuller_hint("rows = ceil(H / patch_size), columns = ceil(W / patch_size); p = the model's probability of "
             "class_index on the untouched images; for each (r, c): a copy of the images with rows "
             "r*patch_size to (r+1)*patch_size and the same for columns set to 127.5 (slicing past the border "
             "is fine), one call model(copy, training=False), and drops[:, r, c] = p - that probability.")
def check_occlusion(occlusion_drops: Any, model: Any, images: np.ndarray, labels: np.ndarray,
                    masks: np.ndarray) -> None:
    """Exercise 3: ``occlusion_drops(model, images, class_index, patch_size)`` by hand.

    Compared with tf-explain's ``OcclusionSensitivity.get_sensitivity_map`` (which maps 1 - p(occluded),
    resized with OpenCV's bilinear interpolation) on every image with ``patch_size=4`` and on two images of
    each class with ``patch_size=6`` (squares cut short at the border): the learner's drops, resized the same
    way, must equal tf-explain's map - (1 - p(x)). The ground-truth scores of the patch-4 maps (drops
    clipped at 0) are printed beside tf-explain's, for the learner to compare; they check nothing more.
    """
    import cv2
    from tf_explain.core import OcclusionSensitivity

    from helpers.explain.saliency import QuietPredictor

    _function(occlusion_drops, "occlusion_drops(model, images, class_index, patch_size) returning the drops, "
                               "shape (n, ceil(H / patch_size), ceil(W / patch_size))")
    images, labels = np.asarray(images, dtype="float32"), np.asarray(labels).astype(int)
    size = images.shape[1:3]
    quiet, explainer = QuietPredictor(model), OcclusionSensitivity()

    def resized(coarse: np.ndarray) -> np.ndarray:  # what tf-explain does to its coarse map
        return np.stack([cv2.resize(np.asarray(m, dtype="float64"), size) for m in coarse])

    few = np.concatenate([np.flatnonzero(labels == c)[:2] for c in np.unique(labels)])
    for patch, rows in ((4, np.arange(len(images))), (6, few)):
        coarse = tuple(-(-s // patch) for s in size)
        drops = _per_class(occlusion_drops, "occlusion_drops", lambda x, k=coarse: (len(x), *k), labels[rows],
                           images[rows], model, patch_size=patch)
        probability = _class_probability(model, images[rows], labels[rows])
        tf_explain = np.stack([explainer.get_sensitivity_map(quiet, images[i], int(labels[i]), patch) for i in rows])
        want, got = tf_explain - (1 - probability)[:, None, None], resized(drops)
        if not np.allclose(got, want, atol=OCCLUSION_ATOL):
            check(not np.allclose(got, tf_explain, atol=OCCLUSION_ATOL),
                  f"with patch_size={patch} you return tf-explain's 1 - p(occluded); return the drop "
                  "p(x) - p(occluded) (0 where a square changes nothing)")
            check(not np.allclose(resized(drops.transpose(0, 2, 1)), want, atol=OCCLUSION_ATOL),
                  f"with patch_size={patch} rows and columns are swapped: drops[i, r, c] is the square over rows "
                  "r * patch_size... and columns c * patch_size...")
            raise ExerciseError(
                f"Not yet. Hint: with patch_size={patch} your drops differ from tf-explain's occlusion map "
                f"(largest difference {np.abs(got - want).max():.4f}): grey (127.5) squares with top-left "
                "corners every patch_size pixels from (0, 0), on a copy of the images, and p(x) - p(occluded) "
                "of class_index")
        if patch == 4:  # equal maps score alike: the table shows what the method is worth, it checks nothing
            _score_table({"your occlusion (patch 4)": np.maximum(got, 0),
                          "tf-explain occlusion": np.maximum(want, 0)}, masks)
    print("Correct: your occlusion drops equal tf-explain's map for patch sizes 4 and 6.")
