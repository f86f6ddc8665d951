"""Checks of the serving exercises (``03_serving``)."""

from __future__ import annotations

from typing import Any

from helpers.checks import check, check_callable
from helpers.serving.client import rest_url
from helpers.serving.local_server.flags import model_server_config_from_text


def check_labelled_predict(labelled_predict: Any) -> None:
    """Exercise: the REST URL and body of a predict request to a labelled version."""
    check_callable(labelled_predict, [
        (("127.0.0.1:8501", "my_model", "canary", [[0.0, 1.0]]),
         (rest_url("127.0.0.1:8501", "my_model", label="canary", verb="predict"), {"instances": [[0.0, 1.0]]})),
        (("localhost:9000", "digits", "stable", [[1.0], [2.0]]),
         ("http://localhost:9000/v1/models/digits/labels/stable:predict", {"instances": [[1.0], [2.0]]})),
    ], hint="build the URL from host, model and label; put the rows under 'instances'")


def check_shop_config(shop_config: Any) -> None:
    """Exercise: a model config file serving every version of ``shop`` with labels stable=4, canary=5."""
    check(shop_config is not None and shop_config is not Ellipsis, "assign the config text to shop_config")
    shop = model_server_config_from_text(shop_config).model_config_list.config
    check(len(shop) == 1 and shop[0].name == "shop" and shop[0].base_path == "/models/shop",
          "one config entry named shop with base_path /models/shop")
    check(shop[0].model_version_policy.WhichOneof("policy_choice") == "all", "use model_version_policy { all {} }")
    check(dict(shop[0].version_labels) == {"stable": 4, "canary": 5}, "label 4 stable and 5 canary")
    print("Correct.")
