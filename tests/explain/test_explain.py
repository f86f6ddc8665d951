"""Unit tests of helpers.explain (scores, baselines, table) and helpers.explain.saliency (tf-explain maps)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.explain import scores as ex

pytestmark = pytest.mark.usefixtures("tf_runtime")  # TensorFlow in-process: 4 logical CPUs

# ---------------------------------------------------------------------------------------- feature rankings


def test_top_k_features_orders_by_absolute_value_with_stable_ties():
    a = np.array([[0.1, -3.0, 2.0, 0.0], [1.0, 1.0, 1.0, 5.0]])
    np.testing.assert_array_equal(ex.top_k_features(a, 2), [[1, 2], [3, 0]])
    np.testing.assert_array_equal(ex.top_k_features(a[0], 1), [[1]])  # one row is promoted to 2-D
    with pytest.raises(ValueError, match="k must be"):
        ex.top_k_features(a, 5)


def test_topk_exact_match_counts_sets_not_orders():
    relevant = (1, 3)
    right = np.array([[0, 5, 0, -4], [0, 1, 0, 9]])  # order inside the top-2 does not matter
    half = np.array([[9, 5, 0, 0], [0, 0, 1, 2]])
    assert ex.topk_exact_match(right, relevant) == 1.0
    assert ex.topk_exact_match(np.vstack([right, half]), relevant) == 0.5
    assert ex.topk_exact_match(np.zeros((3, 4)), (2, 3)) == 0.0  # all ties: no credit for the last columns


def test_random_baselines_match_the_combinatorial_chance():
    assert ex.random_topk_chance(10, 3) == pytest.approx(1 / 120)
    assert ex.random_topk_chance(5, 5) == 1.0
    with pytest.raises(ValueError):
        ex.random_topk_chance(3, 4)
    empirical = ex.random_ranking_score(60_000, 6, (0, 4), seed=1)
    chance = 1 / math.comb(6, 2)
    assert abs(empirical - chance) < 4 * math.sqrt(chance * (1 - chance) / 60_000)
    assert ex.random_attributions((2, 3), seed=0).shape == (2, 3)
    np.testing.assert_array_equal(ex.random_attributions((4,), 7), ex.random_attributions((4,), 7))


def test_topk_overlap_is_a_mean_jaccard():
    same = [np.array([3.0, 2, 1, 0]), np.array([30.0, 20, 10, 0])]
    assert ex.topk_overlap(same, k=2) == 1.0
    disjoint = [np.array([1.0, 1, 0, 0]), np.array([0.0, 0, 1, 1])]
    assert ex.topk_overlap(disjoint, k=2) == 0.0
    partly = [np.array([3.0, 2, 0, 0]), np.array([3.0, 0, 2, 0])]  # {0,1} vs {0,2}: 1/3
    assert ex.topk_overlap(partly, k=2) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        ex.topk_overlap(same[:1], k=2)


def test_lime_weights_densifies_as_map():
    class FakeExplanation:
        def as_map(self):
            return {1: [(2, 0.5), (0, -0.25)]}

    np.testing.assert_array_equal(ex.lime_weights(FakeExplanation(), 1, 4), [-0.25, 0, 0.5, 0])


# ---------------------------------------------------------------------------------------- saliency scores


def _box_masks():
    masks = np.zeros((2, 4, 4), bool)
    masks[:, 1:3, 1:3] = True  # a quarter of each image
    return masks


def test_pointing_game_hits_and_misses():
    masks = _box_masks()
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 2] = 1.0  # inside
    maps[1, 0, 0] = 1.0  # outside
    np.testing.assert_array_equal(ex.pointing_hits(maps, masks), [True, False])
    assert ex.pointing_game(maps, masks) == 0.5
    with pytest.raises(ValueError, match="both be"):
        ex.pointing_game(maps[0], masks[0])


def test_mask_mass_share_clips_negatives_and_handles_empty_maps():
    masks = _box_masks()
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1], maps[0, 0, 0] = 3.0, 1.0  # 3 of 4 inside
    maps[1] = -1.0  # all negative: counts as an all-zero map, scores like a uniform one
    assert ex.mask_mass_share(maps, masks) == pytest.approx((0.75 + 0.25) / 2)
    assert ex.mask_mass_share(np.ones((2, 4, 4)), masks) == pytest.approx(0.25)


def test_random_saliency_baseline_is_near_the_mask_share():
    masks = np.zeros((4000, 5, 5), bool)
    masks[:, :2, :] = True  # 40 % of each image
    baseline = ex.random_saliency_baseline(masks, seed=0)
    assert baseline["expected"] == pytest.approx(0.4)
    assert abs(baseline["pointing"] - 0.4) < 0.04 and abs(baseline["mass_share"] - 0.4) < 0.01


def test_rank_correlation_sanity_check():
    a = np.arange(12.0).reshape(2, 6)
    assert ex.spearman(a[0], a[0] * 10) == pytest.approx(1.0)
    assert ex.spearman(a[0], -a[0]) == pytest.approx(-1.0)
    assert ex.spearman(a[0], np.ones(6)) == 0.0  # a constant explanation carries no ranking
    assert ex.rank_correlation(a, a[:, ::-1], absolute=False) == pytest.approx(-1.0)
    assert ex.rank_correlation(a - 20, a, absolute=True) == pytest.approx(-1.0)  # |a-20| reverses a
    noise = np.random.default_rng(0).random((50, 100))
    assert abs(ex.rank_correlation(noise, np.random.default_rng(1).random((50, 100)))) < 0.05
    with pytest.raises(ValueError, match="shapes differ"):
        ex.rank_correlation(a, a[:1])


def test_timed_and_ranking_table():
    result, seconds = ex.timed(sum, [1, 2, 3])
    assert result == 6 and seconds >= 0
    rows = [
        dict(task="t", method="slow", score=0.8, baseline=0.1, seconds=2.0, extra=1),
        dict(task="t", method="fast", score=0.8, baseline=0.1, seconds=1.0, extra=2),
        dict(task="t", method="bad", score=0.1, baseline=0.1, seconds=0.5, extra=3),
        dict(task="u", method="only", score=0.3, baseline=0.0, seconds=0.0, extra=4),
    ]
    table = ex.ranking_table(rows)
    assert list(table.loc["t"].method) == ["fast", "slow", "bad"]  # score first, then seconds
    assert list(table.loc["t"].index) == [1, 2, 3]
    assert table.loc[("t", 1), "x_random"] == pytest.approx(8.0)
    assert np.isnan(table.loc[("u", 1), "x_random"])  # no division by a zero baseline
    assert "extra" in table.columns
    with pytest.raises(ValueError, match="lacks"):
        ex.ranking_table([dict(task="t", method="m", score=1.0)])


# ---------------------------------------------------------------------------------------- tf-explain maps


@pytest.fixture(scope="module")
def tiny_cnn():
    from helpers.runtime import quiet

    quiet()
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    x = keras.layers.Dense(2, name="logits")(x)
    outputs = keras.layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs)


def test_saliency_maps_every_method(tiny_cnn):
    from helpers.explain import saliency as sal

    images = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 1)).astype("float32")
    labels = np.array([0, 1, 0])
    for method in sal.METHODS:
        maps = sal.saliency_maps(method, tiny_cnn, images, labels, layer_name="conv", smooth_samples=3,
                                 ig_steps=4, patch_size=4)
        assert maps.shape == (3, 8, 8) and maps.dtype == np.float32, method
        assert np.isfinite(maps).all() and (maps >= 0).all(), method
    with pytest.raises(ValueError, match="layer_name"):
        sal.saliency_maps("grad_cam", tiny_cnn, images, labels)
    with pytest.raises(ValueError, match="method must be"):
        sal.saliency_maps("lrp", tiny_cnn, images, labels)
    with pytest.raises(ValueError, match="class indices"):
        sal.saliency_maps("occlusion", tiny_cnn, images, labels[:2])


def test_vanilla_gradients_follow_the_class_score(tiny_cnn):
    import tensorflow as tf

    from helpers.explain import saliency as sal

    images = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 1)).astype("float32")
    maps = sal.saliency_maps("vanilla_gradients", tiny_cnn, images, np.array([1, 1]))
    score_model = tf.keras.Model(tiny_cnn.inputs, tiny_cnn.get_layer("logits").output)
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = score_model(x)[:, 1]
    np.testing.assert_allclose(maps, np.abs(tape.gradient(score, x).numpy())[..., 0], rtol=1e-5, atol=1e-8)


def test_quiet_predictor_prints_nothing(tiny_cnn, capsys):
    from helpers.explain import saliency as sal

    quiet = sal.QuietPredictor(tiny_cnn)
    probabilities = quiet.predict(np.zeros((2, 8, 8, 1)))
    assert probabilities.shape == (2, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert quiet.name == tiny_cnn.name  # everything else is delegated
    assert capsys.readouterr().out == ""


def test_read_tensorboard_images(tmp_path):
    import tensorflow as tf

    from helpers import logs

    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        for step in (1, 0):
            tf.summary.image("Grad CAM", np.full((1, 4, 5, 3), 10 * step, np.uint8), step=step)
            tf.summary.image("other", np.zeros((1, 2, 2, 3), np.uint8), step=step)
    writer.flush()
    logged = logs.read_tensorboard_images(tmp_path, "Grad CAM")
    assert [step for step, _ in logged] == [0, 1]
    assert logged[1][1].shape == (4, 5, 3) and (logged[1][1] == 10).all()


def test_restore_gradient_recording():
    from tensorflow.python.eager import execute

    from helpers.explain import shap_repair as sal

    assert not sal.gradient_recording_patched()
    assert sal.restore_gradient_recording() is False
    execute.record_gradient = lambda *args: None  # what a failed shap DeepExplainer leaves behind
    try:
        assert sal.gradient_recording_patched()
    finally:
        assert sal.restore_gradient_recording() is True
    assert not sal.gradient_recording_patched()
