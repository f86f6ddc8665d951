'''Typical wrong answers of every exercise, and the message each must get from its check.

``WRONG[grade id]`` (``"05_ex2"``: notebook 05, exercise 2, the check cell's nbgrader ``grade_id`` without
``_check``) is a list of :class:`Wrong`: ``answer`` is the code put between the solution cell's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers, ``message`` a regular expression the check's error must
match (``re.search``), ``error`` the error's class name. tests/test_grade.py requires every exercise of every
notebook to have at least one entry; a new exercise adds its own to
its notebook's module here (``nb05.py`` for notebook 05).
'''

from __future__ import annotations

from tests.support.wrong_answers import nb01, nb02, nb03, nb04, nb05, nb06, nb07
from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {}
for _module in (nb01, nb02, nb03, nb04, nb05, nb06, nb07):
    WRONG.update(_module.WRONG)

__all__ = ["WRONG", "Wrong"]
