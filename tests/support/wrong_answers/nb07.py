"""Typical wrong answers of notebook 07's exercises (interpretability); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {
    "07_ex1": [Wrong('''
top_two = [exercise_names[i] for i in np.argsort(-exercise_values)[:2]]
''', r"not its sign \(got \['age'", why="ranked by signed value")],
    "07_ex2": [Wrong('''
def linear_shap(weights, x, background):
    return weights * x
''', r"subtract the background mean, then multiply by the weight \(linear_shap\(", why="no baseline")],
    "07_ex3": [Wrong('''
def points_inside(saliency, mask):
    return bool(mask[saliency > 0].any())
''', r"look it up in the mask \(points_inside\(.* gave False", why="any salient pixel, not the peak")],
}
