"""Typical wrong answers of notebook 07's exercises (interpretability); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

_IG_HEAD = '''
def integrated_gradients(model, images, class_index, baseline, m_steps=50):
    images = tf.convert_to_tensor(images, tf.float32)
    baseline = tf.convert_to_tensor(baseline, tf.float32)
    alphas = tf.reshape(tf.linspace(0.0, 1.0, m_steps + 1), (-1, 1, 1, 1))
    attributions = []
    for image in images:
        path = baseline + alphas * (image - baseline)
        with tf.GradientTape() as tape:
            tape.watch(path)
'''
_OCCLUSION_HEAD = '''
def occlusion_drops(model, images, class_index, patch_size):
    images = np.asarray(images, dtype="float32")
    n, height, width, _ = images.shape
    rows, cols = -(-height // patch_size), -(-width // patch_size)
    original = keras.ops.convert_to_numpy(model(images, training=False))[:, class_index]
    drops = np.zeros((n, rows, cols), dtype="float32")
    for r in range(rows):
        for c in range(cols):
'''

WRONG: dict[str, list[Wrong]] = {
    "07_ex1": [Wrong('''
top_two = [exercise_names[i] for i in np.argsort(-exercise_values)[:2]]
''', r"not its sign \(got \['age'", why="ranked by signed value")],
    "07_ex2": [
        Wrong(_IG_HEAD + '''
            probability = model(path, training=False)[:, class_index]
        gradients = tape.gradient(probability, path)
        attributions.append(tf.reduce_mean((gradients[:-1] + gradients[1:]) / 2.0, axis=0))
    return tf.stack(attributions).numpy()
''', r"completeness fails with the black baseline.*multiply by \(x - baseline\)",
              why="tf-explain's output: the path-averaged gradient without the factor (x - baseline)"),
        Wrong(_IG_HEAD + '''
            probability = model(path, training=False)[:, class_index]
        gradients = tape.gradient(probability, path)
        attributions.append(image * tf.reduce_mean((gradients[:-1] + gradients[1:]) / 2.0, axis=0))
    return tf.stack(attributions).numpy()
''', r"completeness fails with the grey \(127\.5\) baseline.*\(x - baseline\), not x",
              why="times x instead of (x - baseline): right for a black baseline only"),
        Wrong(_IG_HEAD + '''
            probabilities = model(path, training=False)
        gradients = tape.gradient(probabilities, path)
        attributions.append((image - baseline) * tf.reduce_mean((gradients[:-1] + gradients[1:]) / 2.0, axis=0))
    return tf.stack(attributions).numpy()
''', r"every attribution is \(nearly\) 0.*model\(path\)\[:, class_index\]",
              why="the gradient of all the classes' probabilities, whose sum is always 1"),
        Wrong('''
def integrated_gradients(model, images, class_index, baseline, m_steps=50):
    images = np.asarray(images, dtype="float32")
    at_x = keras.ops.convert_to_numpy(model(images, training=False))[:, class_index]
    at_baseline = keras.ops.convert_to_numpy(model(baseline[None], training=False))[0, class_index]
    return np.ones_like(images) * ((at_x - at_baseline) / images[0].size)[:, None, None, None]
''', r"score .* on the ground truth.*add up right are not enough",
              why="complete by construction (F(x) - F(baseline) spread evenly) but no explanation"),
    ],
    "07_ex3": [
        Wrong(_OCCLUSION_HEAD + '''
            occluded = images.copy()
            occluded[:, r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size, :] = 127.5
            drops[:, r, c] = 1 - keras.ops.convert_to_numpy(model(occluded, training=False))[:, class_index]
    return drops
''', r"you return tf-explain's 1 - p\(occluded\); return the drop", why="tf-explain's convention, not the drop"),
        Wrong('''
def occlusion_drops(model, images, class_index, patch_size):
    images = np.asarray(images, dtype="float32")
    n, height, width, _ = images.shape
    rows, cols = height // patch_size, width // patch_size
    original = keras.ops.convert_to_numpy(model(images, training=False))[:, class_index]
    drops = np.zeros((n, rows, cols), dtype="float32")
    for r in range(rows):
        for c in range(cols):
            occluded = images.copy()
            occluded[:, r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size, :] = 127.5
            drops[:, r, c] = original - keras.ops.convert_to_numpy(model(occluded, training=False))[:, class_index]
    return drops
''', r"occlusion_drops returned shape \(2, 3, 3\) .* must return shape \(2, 4, 4\)",
              why="floor division drops the squares cut short at the border"),
        Wrong(_OCCLUSION_HEAD + '''
            occluded = images.copy()
            occluded[:, c * patch_size:(c + 1) * patch_size, r * patch_size:(r + 1) * patch_size, :] = 127.5
            drops[:, r, c] = original - keras.ops.convert_to_numpy(model(occluded, training=False))[:, class_index]
    return drops
''', r"rows and columns are swapped", why="r indexes the columns of the image"),
        Wrong(_OCCLUSION_HEAD + '''
            occluded = images
            occluded[:, r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size, :] = 127.5
            drops[:, r, c] = original - keras.ops.convert_to_numpy(model(occluded, training=False))[:, class_index]
    return drops
''', r"your drops differ from tf-explain's occlusion map .*on a copy of the images",
              why="greys the images themselves, so the squares pile up"),
    ],
}
