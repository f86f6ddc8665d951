"""Checks of the custom-layer exercises (``01_custom_layers``). Keras is imported only when they run."""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.checks import check, check_subclass


def check_scale_layer(layer_class: Any) -> None:
    """Exercise: a layer with one trainable scalar weight ``scale`` (initially 1) multiplying its inputs."""
    import keras

    hint = "build() adds one trainable scalar weight named 'scale' (initializer 'ones'); call() returns inputs * scale"
    check_subclass(layer_class, keras.layers.Layer, hint)
    layer = layer_class()
    x = np.arange(6, dtype="float32").reshape(2, 3)
    out = np.asarray(layer(x))
    check(len(layer.trainable_weights) == 1, f"{hint} (found {len(layer.trainable_weights)} trainable weights)")
    weight = layer.trainable_weights[0]
    check(tuple(weight.shape) == () and weight.name == "scale", f"{hint} (weight {weight.name!r} {weight.shape})")
    check(np.allclose(out, x), f"{hint} (with scale=1 the output should equal the input)")
    weight.assign(3.0)
    check(np.allclose(np.asarray(layer(x)), 3 * x), f"{hint} (with scale=3 the output should be 3 * inputs)")
    print("Correct: Scale multiplies by its trainable weight.")


def check_call_counter(layer_class: Any) -> None:
    """Exercise: an identity layer counting its calls in a non-trainable scalar weight ``calls``."""
    import keras

    hint = "add a non-trainable scalar weight 'calls' and assign_add(1.0) to it in call(); return inputs unchanged"
    check_subclass(layer_class, keras.layers.Layer, hint)
    layer = layer_class()
    x = np.ones((2, 3), dtype="float32")
    for _ in range(3):
        out = np.asarray(layer(x))
    check(np.allclose(out, x), f"{hint} (the output must equal the input)")
    check(not layer.trainable_weights, f"{hint} (the counter must not be trainable)")
    calls = [w for w in layer.weights if w.name == "calls"]
    check(len(calls) == 1, f"{hint} (no weight named 'calls')")
    check(float(np.asarray(calls[0])) == 3.0, f"{hint} (after 3 calls 'calls' is {float(np.asarray(calls[0]))})")
    print("Correct: 3 calls counted, nothing trainable.")


def check_config_round_trip(layer_class: Any, **config: Any) -> None:
    """Exercise: ``layer_class.from_config(layer.get_config())`` rebuilds a layer with the same config."""
    import keras

    hint = "store every constructor argument in __init__ and return them from get_config() with super's config"
    check_subclass(layer_class, keras.layers.Layer, hint)
    layer = layer_class(**config)
    x = np.ones((2, 3), dtype="float32")
    out = np.asarray(layer(x))
    saved = layer.get_config()
    missing = [k for k in config if saved.get(k) != config[k]]
    check(not missing, f"{hint} (get_config() lacks {missing})")
    clone = layer_class.from_config(saved)
    check(np.allclose(np.asarray(clone(x)), out), f"{hint} (the rebuilt layer computes something else)")
    print(f"Correct: get_config/from_config keep {config}.")
