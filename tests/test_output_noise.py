"""tests/support/output_noise.py: what it flags in an executed notebook, and what it leaves alone."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.support.output_noise import classify, ends_in_record, unwanted_output

ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN = ("I0000 00:00:1796286942.445861    5305 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results")
CUDA = "E0000 00:00:1764000000.123456   12 cuda_dnn.cc:8310] Unable to register cuDNN factory"
GLOG = "W1203 14:02:11.123456  4242 grpc_server_lib.cc:467] Started server"
WARNING = ("/x/.venv/lib/python3.11/site-packages/sklearn/gaussian_process/kernels.py:445: ConvergenceWarning: "
           "The optimal value found for dimension 0")


def executed(*cells):
    """A notebook of (source, outputs) code cells, with a markdown cell first (indices start at 1)."""
    nb = new_notebook(cells=[new_markdown_cell("# T")])
    for source, outputs in cells:
        cell = new_code_cell(source)
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


def stdout(text):
    return new_output("stream", name="stdout", text=text)


def stderr(text):
    return new_output("stream", name="stderr", text=text)


def result(text):
    return new_output("execute_result", data={"text/plain": text}, execution_count=1)


def test_a_clean_notebook_has_nothing_unwanted():
    nb = executed(("x = 1\nprint(x)\nx", [stdout("1\n"), result("1")]),
                  ("helpers.record('a', 1)\nprint('done')", [stdout("done\n")]),
                  ("df", [new_output("display_data", data={"text/plain": "<Figure>"})]))
    assert unwanted_output(nb) == []


def test_each_kind_is_named_with_its_cell_and_line():
    nb = executed(
        ("acc = helpers.record('acc', 0.9)", [stdout("recorded acc = 0.9\n")]),
        ("pool.warm()", [stderr(f"{ABSL}\n{ONEDNN}\n{CUDA}\n")]),
        ("search()", [stderr(f"{WARNING}\n  warnings.warn(\n")]),
        ("x = 2\nhelpers.record('x', x)", [result("2")]),
        ("import sys\nprint('oops', file=sys.stderr)", [stderr("oops\n")]),
    )
    assert unwanted_output(nb) == [
        "cell 1: recorded: recorded acc = 0.9",
        f"cell 2: TF C++ log: {ABSL}",
        f"cell 2: TF C++ log: {ONEDNN}",
        f"cell 2: TF C++ log: {CUDA}",
        f"cell 3: warning: {WARNING}",
        "cell 3: warning:   warnings.warn(",
        "cell 4: echoed record: 2",
        "cell 5: stderr: oops",
    ]


def test_tensorflow_log_lines_are_found_on_stdout_too():
    """A child process whose stderr is its parent's stdout still shows its C++ log lines."""
    nb = executed(("run()", [stdout(f"lesson line\n{GLOG}\n")]))
    assert unwanted_output(nb) == [f"cell 1: TF C++ log: {GLOG}"]


def test_lesson_text_that_only_mentions_the_words_is_kept():
    for line in ("the recorded figures are in summary.json", "a UserWarning: is raised when ...",
                 "I0000 is how absl starts a line", "accuracy recorded = 0.9"):
        assert classify(line, "stdout") is None, line


def test_only_a_bare_record_call_as_the_last_statement_echoes():
    assert ends_in_record("x = 1\nhelpers.record('x', x)")
    assert ends_in_record("record('x', 1)")
    assert not ends_in_record("helpers.record('x', 1)\nprint(1)")
    assert not ends_in_record("y = helpers.record('x', 1)")
    assert not ends_in_record("helpers.record('x', 1);")  # a trailing semicolon: IPython shows nothing
    assert not ends_in_record("%%time\nhelpers.record('x', 1")  # unparsable
    assert not ends_in_record("")
