"""Checks of the custom-layer exercises (``01_custom_layers``). Keras is imported only when they run.

Exercise 1 is a warm-up (a layer with one weight); exercise 2 a masked mean-pooling layer (mask, output
shape, ``add_loss``, config) compared with a NumPy reference; exercise 3 a model with its own ``train_step``
(gradients clipped by their global norm) compared with the same SGD steps written out in TensorFlow. Both
work on fixed data made here, so they give the same verdict for every seed of the notebook.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.checks import ExerciseError, call_learner, check, check_subclass, fuller_hint, raised_by_learner


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


STEPS, FEATURES, RATE = 6, 4, 0.1  # exercise 2's sequences and its add_loss rate


def _masked_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three sequences of ``STEPS`` steps of ``FEATURES`` features, 6, 3 and 1 of them real: padded with
    junk (what ``mask=`` must hide), padded with zeros (what ``keras.layers.Masking`` detects), and the
    boolean mask. Fixed numbers, so the check is the same for every seed of the notebook."""
    rng = np.random.default_rng(2)
    mask = np.arange(STEPS)[None, :] < np.array([STEPS, 3, 1])[:, None]
    x = rng.normal(size=(3, STEPS, FEATURES)).astype("float32") + 1.0
    return x, np.where(mask[..., None], x, 0.0).astype("float32"), mask


def _masked_mean(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The reference: the mean of ``x`` over the steps where ``mask`` is True, in float64."""
    weights = mask[..., None].astype("float64")
    return (x * weights).sum(axis=1) / weights.sum(axis=1)


@fuller_hint("cast the mask to the inputs' dtype and give it a features axis, so that it broadcasts over "
             "(batch, steps, features); sum inputs times it over the steps axis and divide by its own sum over "
             "that axis; call self.add_loss in call() on a scalar made from the output; compute_output_shape "
             "drops the middle entry of input_shape; compute_mask returns None whatever it gets; get_config "
             "merges 'rate' into super().get_config()")
def check_masked_mean(layer_class: Any) -> None:
    """Exercise 2: ``MaskedMean(rate)`` pools ``(batch, steps, features)`` to ``(batch, features)``, the mean
    over the steps its ``mask`` keeps (all steps without one), adds ``rate * mean(output ** 2)`` with
    ``add_loss``, declares its output shape, passes no mask on and rebuilds from ``get_config``.

    Compared with a NumPy reference on fixed padded sequences: called with ``mask=``, without a mask, and in
    a functional model behind ``keras.layers.Masking``, where the mask arrives by itself.
    """
    import keras

    hint = "MaskedMean(rate) returns the mean over the steps where mask is True"
    check_subclass(layer_class, keras.layers.Layer, hint)
    x, zero_padded, mask = _masked_problem()
    layer = call_learner(f"{layer_class.__name__}(rate={RATE})", layer_class, rate=RATE)
    out = np.asarray(call_learner("the layer called with mask=", layer, x, mask=mask), dtype="float64")
    want = _masked_mean(x, mask)
    check(out.shape == want.shape, f"{hint}: (3, {STEPS}, {FEATURES}) inputs give (3, {FEATURES}) "
          f"outputs, one mean per sequence and feature (got {out.shape})")
    if not np.allclose(out, want, rtol=1e-5, atol=1e-5):
        if np.allclose(out, x.mean(axis=1), rtol=1e-5, atol=1e-5):
            check(False, f"{hint}: the output is the mean over all {STEPS} steps, padding included; "
                  "take the mask argument of call() and count only its True steps")
        if np.allclose(out, (x * mask[..., None]).sum(axis=1) / STEPS, rtol=1e-5, atol=1e-5):
            check(False, f"{hint}: the padded steps are left out of the sum but counted in the divisor; "
                  "divide by the number of True steps of each sequence")
        check(False, f"{hint}: the values differ from the masked mean (sequences of 6, 3 and 1 steps)")

    losses = layer.losses
    check(len(losses) == 1, f"call() must add one loss with self.add_loss(...) (layer.losses holds "
          f"{len(losses)} after one call)")
    expected_loss = RATE * np.mean(want ** 2)
    check(np.size(losses[0]) == 1, f"the added loss must be one scalar (got shape {np.shape(losses[0])}): "
          "take the mean over the whole output")
    check(np.isclose(float(np.asarray(losses[0])), expected_loss, rtol=1e-4),
          f"the added loss is rate * mean(square(outputs)) = {expected_loss:.6f} here "
          f"(got {float(np.asarray(losses[0])):.6f})")

    plain = np.asarray(call_learner("the layer called without a mask", layer, x), dtype="float64")
    check(np.allclose(plain, x.mean(axis=1), rtol=1e-5, atol=1e-5),
          "without a mask (mask=None) the output is the mean over all steps")
    check(len(layer.losses) == 1, f"each call adds one loss, and Keras empties layer.losses at each new outer call: "
          f"add it in call(), once (layer.losses holds {len(layer.losses)} after a second call)")

    shape = call_learner("compute_output_shape((None, 7, 5))", layer.compute_output_shape, (None, 7, 5))
    check(shape is not None and tuple(shape) == (None, 5),
          f"compute_output_shape(input_shape) returns (batch, features): (None, 7, 5) -> (None, 5) "
          f"(got {shape})")
    passed_on = call_learner("compute_mask(inputs, mask)", layer.compute_mask, x, mask)
    check(layer.supports_masking and passed_on is None,
          "the output has no steps axis, so no mask may pass on: define compute_mask(self, inputs, "
          "mask=None) returning None (it also tells Keras the layer supports masking)")

    clone = call_learner(f"{layer_class.__name__}.from_config(layer.get_config())", layer_class.from_config,
                  layer.get_config())
    call_learner("the rebuilt layer", clone, x, mask=mask)
    check(len(clone.losses) == 1 and np.isclose(float(np.asarray(clone.losses[0])), expected_loss, rtol=1e-4),
          "get_config() must return rate too, so from_config rebuilds a layer with the same rate")

    inputs = keras.Input(shape=(None, FEATURES))
    pooled = call_learner("the layer on keras.Input((None, 4)) behind Masking", layer_class(rate=RATE),
                   keras.layers.Masking(mask_value=0.0)(inputs))
    check(tuple(pooled.shape) == (None, FEATURES),
          f"on a symbolic (None, None, {FEATURES}) input the output shape is (None, {FEATURES}) "
          f"(got {tuple(pooled.shape)})")
    model = keras.Model(inputs, pooled)
    through = np.asarray(call_learner("the functional model with Masking", model, zero_padded), dtype="float64")
    check(np.allclose(through, want, rtol=1e-5, atol=1e-5),
          "behind keras.layers.Masking the mask arrives as call(..., mask=...) by itself; the output must be "
          "the same masked mean")
    check(len(model.losses) == 1, f"model.losses must hold the layer's one loss (holds {len(model.losses)})")
    print("Correct: masked mean with and without a mask, one add_loss loss, output shape (None, "
          f"{FEATURES}), no mask passed on, config kept.")


# ---- exercise 3: a model with its own train_step -------------------------------------------------------

LEARNING_RATE, ACTIVITY_L2, BATCH, BATCHES = 0.1, 0.5, 4, 3


def _regression_problem() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Fixed rows ``x`` (12, 3), targets ``y`` (12, 1) and initial weights of the 3 -> 5 (tanh) -> 1 model."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(BATCH * BATCHES, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-0.5], [0.25]]) + 0.5).astype("float32")
    weights = [rng.normal(scale=0.8, size=(3, 5)), rng.normal(scale=0.1, size=(5,)),
               rng.normal(scale=0.8, size=(5, 1)), np.zeros(1)]
    return x, y, [w.astype("float32") for w in weights]


def _hand_steps(x: np.ndarray, y: np.ndarray, weights: list[np.ndarray], clip_norm: float | None,
                global_norm: bool = True, layer_losses: bool = True) -> tuple[list[np.ndarray], dict, list]:
    """The ``BATCHES`` SGD steps of ``fit(batch_size=BATCH, shuffle=False)``, written out in TensorFlow:
    loss = mse + ACTIVITY_L2 * sum(h ** 2) / batch (ActivityRegularization's loss, which Keras divides by the
    batch size); gradients clipped by their global norm (or each on its own, or not at all); w -= lr * g.
    Returns the final weights, the epoch's mean loss and mae, and each step's gradient norm before clipping."""
    import tensorflow as tf

    variables = [tf.Variable(w) for w in weights]
    losses, errors, norms = [], [], []
    for start in range(0, len(x), BATCH):
        xb, yb = tf.constant(x[start:start + BATCH]), tf.constant(y[start:start + BATCH])
        with tf.GradientTape() as tape:
            kernel, bias, out_kernel, out_bias = variables
            hidden = tf.tanh(xb @ kernel + bias)
            pred = hidden @ out_kernel + out_bias
            loss = tf.reduce_mean(tf.square(yb - pred))
            if layer_losses:
                loss += ACTIVITY_L2 * tf.reduce_sum(tf.square(hidden)) / BATCH
        grads = tape.gradient(loss, variables)
        norms.append(float(tf.linalg.global_norm(grads)))
        if clip_norm is not None:
            grads = (tf.clip_by_global_norm(grads, clip_norm)[0] if global_norm
                     else [tf.clip_by_norm(g, clip_norm) for g in grads])
        for variable, grad in zip(variables, grads, strict=True):
            variable.assign_sub(LEARNING_RATE * grad)
        losses.append(float(loss))
        errors.append(float(tf.reduce_mean(tf.abs(yb - pred))))
    return [v.numpy() for v in variables], {"loss": np.mean(losses), "mae": np.mean(errors)}, norms


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Two lists of weights with the same shapes and values (float32 round-off allowed)."""
    return len(a) == len(b) and all(np.shape(u) == np.shape(v) and np.allclose(u, v, rtol=1e-4, atol=1e-5)
                                    for u, v in zip(a, b, strict=True))


@fuller_hint("keras.utils.unpack_x_y_sample_weight splits data; under the tape call the model with "
             "training=True and get the loss from self.compute_loss with keyword arguments x, y, y_pred; "
             "tf.clip_by_global_norm takes the whole list of gradients and returns (clipped list, norm); "
             "self.optimizer.apply takes the gradients and the variables; of self.metrics, the one named "
             "'loss' is updated with the loss and the others with (y, y_pred); return a dict name -> result()")
def check_clipped_train_step(model_class: Any) -> None:
    """Exercise 3: ``ClippedModel(inputs, outputs, clip_norm=c)``, a ``keras.Model`` whose ``train_step``
    computes ``self.compute_loss`` under a ``tf.GradientTape``, clips the gradients by their global norm to
    ``clip_norm``, applies them with its optimizer and returns its updated metrics.

    The model is 3 -> Dense(5, tanh) -> ActivityRegularization -> Dense(1), compiled with SGD, mse and mae;
    ``fit`` runs 3 batches; its weights and history must equal the same 3 steps computed by hand from the
    same initial weights (:func:`_hand_steps`), with ``clip_norm`` half the smallest gradient norm, so every
    step is clipped.
    """
    import keras

    hint = "train_step(self, data) clips the gradients by their global norm to self.clip_norm"
    check_subclass(model_class, keras.Model, hint)
    x, y, initial = _regression_problem()
    _, _, norms = _hand_steps(x, y, initial, clip_norm=None)
    clip_norm = 0.5 * min(norms)
    expected, logs, norms = _hand_steps(x, y, initial, clip_norm)
    assert min(norms) > clip_norm, "the check's own problem: every step must be clipped"  # not the learner's

    inputs = keras.Input(shape=(3,))
    hidden = keras.layers.ActivityRegularization(l2=ACTIVITY_L2)(keras.layers.Dense(5, activation="tanh")(inputs))
    outputs = keras.layers.Dense(1)(hidden)
    model = call_learner(f"{model_class.__name__}(inputs, outputs, clip_norm={clip_norm:.3f})", model_class,
                  inputs, outputs, clip_norm=clip_norm)
    check(getattr(model, "clip_norm", None) == clip_norm,
          f"__init__ stores its clip_norm argument as self.clip_norm (got {getattr(model, 'clip_norm', None)})")
    model.set_weights(initial)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE), loss="mse", metrics=["mae"])
    with raised_by_learner(lambda raised: ExerciseError(f"Not yet: model.fit(x, y, batch_size=4) raised {raised}")):
        try:
            history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history
        except ValueError as err:
            check("metric has not yet been built" not in str(err),
                  "fit could not read the compiled metrics (mae): they were never updated; in train_step update "
                  "every metric of self.metrics (the compiled ones with y and y_pred)")
            raise
    got = model.get_weights()

    if not _same(got, expected):
        check(not _same(got, initial), "the weights did not change: apply the gradients with the optimizer")
        check(not _same(got, _hand_steps(x, y, initial, None)[0]),
              "the weights moved as in unclipped SGD steps: clip the gradients before applying them")
        check(not _same(got, _hand_steps(x, y, initial, clip_norm, global_norm=False)[0]),
              "each gradient was clipped on its own; clip them together, by their global norm")
        check(not _same(got, _hand_steps(x, y, initial, clip_norm, layer_losses=False)[0]),
              "the step leaves out the layers' add_loss losses (the activity regulariser): compute the loss "
              "with self.compute_loss(...), which adds model.losses to the compiled loss")
        check(False, f"{hint}; the weights after 3 batches differ from 3 clipped SGD steps by hand")

    missing = [name for name in ("loss", "mae") if name not in history]
    check(not missing, f"fit's history lacks {missing}: update self.metrics (the loss tracker named 'loss' with "
          f"the loss, the compiled metrics with y and y_pred) and return their results (it has {sorted(history)})")
    for name in ("loss", "mae"):
        value = history[name][-1]
        check(np.isclose(value, logs[name], rtol=1e-4), f"the epoch's {name} is {logs[name]:.5f} (the mean over "
              f"its 3 batches, the activity loss included), fit reported {value:.5f}: update the metrics "
              f"in every step, the one named 'loss' with the loss of compute_loss")
    print(f"Correct: 3 steps clipped to global norm {clip_norm:.3f} match the hand-computed ones; "
          f"loss {logs['loss']:.4f}, mae {logs['mae']:.4f}.")
