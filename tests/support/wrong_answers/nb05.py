"""Typical wrong answers of notebook 05's exercises (custom callbacks); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

WRONG: dict[str, list[Wrong]] = {
    "05_ex1": [Wrong('''
class BestValAccuracyEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.best_epoch, self.best = None, -np.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is not None and value > self.best:
            self.best_epoch, self.best = epoch, value
''', r"for val_accuracy \[0\.1, 0\.2, 0\.3, 0\.4\] expected best_epoch=3", why="not reset in on_train_begin")],
    "05_ex2": [Wrong('''
def warmup_then_decay(epoch, lr):
    if epoch < 3:
        return 1e-3 * (epoch + 1) / 3
    return 1e-3 * 0.5 ** (epoch - 3)
''', r"warmup_then_decay\(3, 1\.0\) gave 0\.001", why="decay starts one epoch late")],
}
