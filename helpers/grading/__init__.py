"""Grading with nbgrader: the exercise cells' nbgrader format, release versions, and autograding a class.

* :mod:`helpers.grading.cells`: the format (solution cells with ``### BEGIN SOLUTION`` / ``### END SOLUTION``
  and nbgrader metadata, check cells as locked autograded test cells with points), applied and validated.
* :mod:`helpers.grading.course`: a temporary nbgrader course folder; ``generate_assignment`` into ``release/``
  (``python -m helpers.grading assign``, what ``make assignment`` calls).
* :mod:`helpers.grading.autograde`: the child process that autogrades ONE submission with nbgrader's own
  ``autograde`` in its own temporary course folder (started through :mod:`helpers.procs`).
* :mod:`helpers.grading.sandbox`: the bubblewrap sandbox a submission's code runs in (read-only system, private
  /tmp, no network, memory and task limits, its own PID namespace).
* :mod:`helpers.grading.kernel`: the kernelspec that puts the submission's Jupyter kernel, and only it, into
  that sandbox; nbgrader and the gradebook stay outside.
* :mod:`helpers.grading.grade`: ``python -m helpers.grading grade DIR`` (``make grade SUBMISSIONS=DIR``):
  every ``DIR/<student>/<NN_topic>.ipynb``, one child each (its kernel sandboxed) with a per-notebook timeout, into
  ``DIR/grades.csv``, ``DIR/grades.html``, ``DIR/canvas.csv`` and ``DIR/feedback/<student>/<NN_topic>.html``
  (:mod:`helpers.grading.report`).

Imports no TensorFlow; nbgrader is imported only where it is used.
"""
