"""Interpretability for ``07_interpretability``, scored against ground truth.

* ``scores``: top-k match, pointing game, mask mass, rank correlation, random baselines (NumPy only)
* ``saliency``: raw per-image maps from tf-explain's methods (imports TensorFlow and tf-explain)
* ``shap_repair``: puts back TensorFlow's gradient recording after a failed SHAP DeepExplainer
"""
