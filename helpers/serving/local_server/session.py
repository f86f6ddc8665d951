"""A SavedModel loaded as TensorFlow Serving loads it: the MetaGraphDef into a TensorFlow Session
(``LoadSavedModel``: restore the variables, run the init/main op), then every request is one
``Session::Run`` that feeds the signature's input tensors by name and fetches its output tensors.

This is what makes the stand-in answer as the real server does. The SignatureDef's shapes are not checked:
the graph decides, so ``x`` of shape ``[?,1]`` fed with shape ``[3]`` runs, and an op that cannot take the
value fails with TensorFlow's own status (code and text, ``[[{{node ...}}]]`` included). TF1 graph-mode
exports and TF2 ``tf.function`` exports load the same way.

Python's ``Session.run`` refuses a feed whose shape differs from the tensor's static shape before the C++
session sees it, so the run goes through the session's C++ entry point directly: private API
(``BaseSession._call_tf_sessionrun`` and ``Tensor._as_tf_output``), kept in this one module.

One kind of SavedModel loads but cannot run in a session: a Keras 3 model held by a ``tf.Module`` and saved
with ``tf.saved_model.save``, whose signature functions read variables that the restore op does not restore.
The real server answers every request to it with FAILED_PRECONDITION ``Could not find variable ...``
(tensorflow/serving#2250, keras-team/keras#20095). :attr:`SavedModelSession.unrestored` names such
variables, so that the caller can say so (see servable.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf


class SavedModelSession:
    """One SavedModel version in its own graph and session; :meth:`run` is thread-safe. The session closes
    when this object is freed."""

    def __init__(self, path: Path, tags: tuple[str, ...], config=None):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.session = tf.compat.v1.Session(graph=self.graph, config=config)
            try:
                meta_graph = tf.compat.v1.saved_model.loader.load(self.session, list(tags), str(path))
            except BaseException:
                self.session.close()
                raise
        self.signature_defs = dict(meta_graph.signature_def)
        self._endpoints: dict[str, object] = {}  # tensor name -> the C API's TF_Output
        self.unrestored = self._unrestored_variables()

    def _unrestored_variables(self) -> list[str]:
        """The resource variables that the signatures read and that are still uninitialized after the
        restore and init ops ran."""
        handles, seen = [], set()
        pending = [
            self.graph.get_tensor_by_name(info.name).op
            for signature in self.signature_defs.values()
            for info in signature.outputs.values()
            if ":" in info.name  # a tensor (the init op's "signature" names an operation)
        ]
        while pending:
            op = pending.pop()
            if op.name in seen:
                continue
            seen.add(op.name)
            if op.type == "VarHandleOp":
                handles.append(op.outputs[0])
            pending.extend(tensor.op for tensor in op.inputs)
        if not handles:
            return []
        with self.graph.as_default():
            checks = [tf.raw_ops.VarIsInitializedOp(resource=handle) for handle in handles]
        done = self.session.run(checks)
        return [handle.op.name for handle, ok in zip(handles, done, strict=True) if not ok]

    def _endpoint(self, name: str):
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            endpoint = self.graph.get_tensor_by_name(name)._as_tf_output()
            self._endpoints[name] = endpoint
        return endpoint

    def run(self, key: str, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> list[np.ndarray]:
        """``Session::Run``: the signature ``key``'s input tensors fed ``inputs`` (by alias), its ``outputs``
        (aliases) fetched, in order. TensorFlow's errors (``tf.errors.OpError``) keep their code and text."""
        feeds, fetches = tensor_names(self.signature_defs[key], inputs, outputs)
        feed = {self._endpoint(name): value for name, value in feeds.items()}
        return self.session._call_tf_sessionrun(None, feed, [self._endpoint(n) for n in fetches], [], None)


def tensor_names(signature, inputs: dict, outputs: tuple[str, ...]) -> tuple[dict, list[str]]:
    """``({input tensor name: value}, [output tensor names])`` of a signature's aliases."""
    return (
        {signature.inputs[alias].name: value for alias, value in inputs.items()},
        [signature.outputs[alias].name for alias in outputs],
    )


class SignatureFunctions:
    """A SavedModel run by TensorFlow 2's loader (``tf.saved_model.load``): each signature a concrete
    function, which checks input shapes against the SignatureDef. Only for the SavedModels a session cannot
    run (see the module docstring)."""

    def __init__(self, path: Path, tags: tuple[str, ...], signature_defs: dict):
        self.signature_defs = signature_defs
        self.functions = tf.saved_model.load(str(path), tags=list(tags)).signatures

    def run(self, key: str, inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> list[np.ndarray]:
        """The signature's concrete function on ``inputs``; its ``outputs`` in order."""
        try:
            result = self.functions[key](**{alias: tf.constant(value) for alias, value in inputs.items()})
        except (TypeError, ValueError) as err:  # the function's own input checks
            raise tf.errors.InvalidArgumentError(None, None, str(err)) from None
        return [result[alias].numpy() for alias in outputs]
