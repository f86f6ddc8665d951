"""Typical wrong answers of notebook 03's exercises (serving); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {
    "03_ex1": [Wrong('''
def labelled_predict(host, model, label, rows):
    return f"http://{host}/v1/models/{model}/labels/{label}:predict", {"inputs": rows}
''', r"put the rows under 'instances' \(labelled_predict\(", why="the columnar key")],
    "03_ex2": [Wrong('''
shop_config = """
model_config_list {
  config {
    name: "shop"
    base_path: "/models/shop"
    model_platform: "tensorflow"
    version_labels { key: "stable" value: 4 }
    version_labels { key: "canary" value: 5 }
  }
}
"""
''', r"use model_version_policy \{ all \{\} \}", why="the default policy serves the latest version only")],
}
