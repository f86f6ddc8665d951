'''Typical wrong answers of every exercise, and the message each must get from its check.

``WRONG[grade id]`` (``"05_ex2"``: notebook 05, exercise 2, the check cell's nbgrader ``grade_id`` without
``_check``) is a list of :class:`Wrong`: ``answer`` is the code put between the solution cell's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, ``message`` a regular expression the check's error must
match (``re.search``), ``error`` the error's class name. tests/test_grade.py requires every exercise of every
notebook to have at least one entry; a new notebook NN adds a module ``nbNN.py`` here with a ``WRONG`` dict
(found automatically).
'''

from __future__ import annotations

import importlib
import pkgutil

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.name.startswith("nb"):
        WRONG.update(importlib.import_module(f"{__name__}.{_info.name}").WRONG)

__all__ = ["WRONG", "Wrong"]
