"""Raw saliency maps from tf-explain, one per image and its own class (notebook 07_interpretability).

tf-explain's ``explain()`` methods return a picture (a uint8 grid of overlays) for ONE class index; to score
a method we need the raw map of each image for its own class. The functions here call the same tf-explain
computations that ``explain()`` calls (its static methods), group images by class, and return float maps
of shape (n, H, W), non-negative, larger = more important.
The images tf-explain's ``GradCAMCallback`` logs are read with ``helpers.logs.read_tensorboard_images``; the
SHAP repair is in :mod:`helpers.explain.shap_repair`.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf
from tf_explain.core import GradCAM, IntegratedGradients, OcclusionSensitivity, SmoothGrad, VanillaGradients

METHODS = ("vanilla_gradients", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion")


class QuietPredictor:
    """Wrap a Keras model so that ``.predict`` is a silent direct call (no progress bar per image).

    tf-explain's occlusion sensitivity calls ``model.predict`` once per image, and Keras prints a progress
    bar each time; everything else is delegated to the model.
    """

    def __init__(self, model):
        self._model = model

    def predict(self, x, batch_size=None, **_):
        """Class probabilities of ``x`` as NumPy, computed in one call without any printing."""
        return np.asarray(self._model(tf.convert_to_tensor(x, tf.float32), training=False))

    def __getattr__(self, name):
        return getattr(self._model, name)


def _channel_sum(grads) -> np.ndarray:
    """(n, H, W, C) gradients -> (n, H, W) absolute values summed over channels."""
    return np.abs(np.asarray(grads)).sum(axis=-1)


def _one_class(method: str, model, images: np.ndarray, class_index: int, *, layer_name: str | None,
               smooth_samples: int, smooth_noise: float, ig_steps: int, patch_size: int) -> np.ndarray:
    images = np.asarray(images, dtype="float32")
    if method == "vanilla_gradients":
        with warnings.catch_warnings():  # a model without a final Activation layer: tf-explain warns
            warnings.simplefilter("ignore")
            score_model = VanillaGradients().get_score_model(model)
        return _channel_sum(VanillaGradients.compute_gradients(images, score_model, class_index))
    if method == "smoothgrad":
        noisy = SmoothGrad.generate_noisy_images(images, smooth_samples, smooth_noise)
        return _channel_sum(SmoothGrad.get_averaged_gradients(noisy, model, class_index, smooth_samples))
    if method == "integrated_gradients":
        paths = IntegratedGradients.generate_interpolations(images, ig_steps)
        averaged = IntegratedGradients.get_integrated_gradients(paths, model, class_index, ig_steps)
        # tf-explain returns the path-averaged gradient; the attribution multiplies it by (x - baseline=0)
        return _channel_sum(np.asarray(averaged) * images)
    if method == "grad_cam":
        if layer_name is None:
            raise ValueError("grad_cam needs layer_name (a convolution layer's name)")
        with warnings.catch_warnings():  # tf-explain nests model.inputs in a list; Keras 3 warns each call
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            outputs, grads = GradCAM.get_gradients_and_filters(model, images, layer_name, class_index, True)
        cams = np.stack([np.asarray(c) for c in GradCAM.generate_ponderated_output(outputs, grads)])
        size = (images.shape[2], images.shape[1])
        import cv2

        return np.stack([cv2.resize(np.maximum(c, 0).astype("float32"), size) for c in cams])
    if method == "occlusion":
        quiet = QuietPredictor(model)
        explainer = OcclusionSensitivity()
        base = quiet.predict(images)[:, class_index]
        maps = [explainer.get_sensitivity_map(quiet, image, class_index, patch_size) for image in images]
        # tf-explain maps 1 - p(class | patch greyed); the drop from the unoccluded p is what matters
        return np.stack([np.maximum(m - (1 - b), 0) for m, b in zip(maps, base, strict=True)])
    raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")


def saliency_maps(method: str, model, images: np.ndarray, class_indices: np.ndarray, *,
                  layer_name: str | None = None, smooth_samples: int = 20, smooth_noise: float = 25.0,
                  ig_steps: int = 20, patch_size: int = 4) -> np.ndarray:
    """Saliency maps (n, H, W) of ``images`` (n, H, W, C), each for its own class in ``class_indices``.

    ``method``: one of :data:`METHODS`. ``vanilla_gradients`` differentiates the class score (tf-explain
    drops a final Activation layer), ``smoothgrad`` averages gradients over ``smooth_samples`` noisy copies
    (noise sd ``smooth_noise``, in the images' units), ``integrated_gradients`` integrates from a black
    image in ``ig_steps`` steps (times the input), ``grad_cam`` weights ``layer_name``'s channels by their
    positive gradients and upsamples, ``occlusion`` greys ``patch_size`` squares and maps the drop in the
    class probability.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    images = np.asarray(images)
    class_indices = np.asarray(class_indices).astype(int)
    if len(images) != len(class_indices):
        raise ValueError(f"{len(images)} images but {len(class_indices)} class indices")
    maps = np.zeros(images.shape[:3], dtype="float32")
    for c in np.unique(class_indices):
        rows = np.flatnonzero(class_indices == c)
        maps[rows] = _one_class(method, model, images[rows], int(c), layer_name=layer_name,
                                smooth_samples=smooth_samples, smooth_noise=smooth_noise, ig_steps=ig_steps,
                                patch_size=patch_size)
    return maps
