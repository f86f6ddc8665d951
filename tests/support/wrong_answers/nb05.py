"""Typical wrong answers of notebook 05's exercises (custom callbacks); see the package docstring."""

from tests.support.wrong_answers.wrong import Wrong

_WARMUP_COSINE = '''
class WarmupCosine(keras.callbacks.Callback):
    def __init__(self, peak, warmup_steps, total_steps, alpha=0.0):
        super().__init__()
        self.peak, self.warmup_steps, self.total_steps, self.alpha = peak, warmup_steps, total_steps, alpha
        self.step = 0

    def on_train_begin(self, logs=None):
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        step = STEP
        if step < self.warmup_steps:
            rate = self.peak * WARMUP / self.warmup_steps
        else:
            decay_steps = self.total_steps - self.warmup_steps
            done = DONE / decay_steps
            rate = self.peak * (self.alpha + (1 - self.alpha) * 0.5 * (1 + float(np.cos(np.pi * done))))
        self.model.optimizer.learning_rate = rate
        self.step += 1
'''


def _warmup_cosine(step="self.step", warmup="step", done="min(step - self.warmup_steps, decay_steps)"):
    return _WARMUP_COSINE.replace("STEP", step).replace("WARMUP", warmup).replace("DONE", done)


_PATIENT_STOPPING = '''
class PatientStopping(keras.callbacks.Callback):
    def __init__(self, patience, min_delta=0.0):
        super().__init__()
        self.patience, self.min_delta = patience, min_delta

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_weights = np.inf, None, None
        self.wait, self.stopped_epoch = 0, None

    def on_epoch_end(self, epoch, logs=None):
        current = logs["val_loss"]
        if IMPROVED:
            self.best, self.best_epoch, self.wait = current, epoch, RESET
            self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            RESTORE_ON_STOP

    def on_train_end(self, logs=None):
        if RESTORE_AT_END and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
'''


def _patient_stopping(improved="current < self.best - self.min_delta", reset="0", restore_on_stop="pass",
                      restore_at_end="True"):
    return (_PATIENT_STOPPING.replace("IMPROVED", improved).replace("RESET", reset)
            .replace("RESTORE_ON_STOP", restore_on_stop).replace("RESTORE_AT_END", restore_at_end))


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
    "05_ex2": [
        Wrong(_warmup_cosine(step="batch"),
              r"at global step 10 \(epoch 1, batch 0\).*the step restarts every epoch",
              why="uses the hook's batch argument, which restarts every epoch, as the global step"),
        Wrong(_warmup_cosine(done="(step - self.warmup_steps)"),
              r"at global step 17 .*clamp the decay step",
              why="no clamp: past total_steps the cosine rises again"),
        Wrong(_warmup_cosine(warmup="(step + 1)"),
              r"at global step 0 .*0 at step 0",
              why="warm-up one step ahead: (step + 1) / warmup_steps"),
    ],
    "05_ex3": [
        Wrong(_patient_stopping(improved="current < self.best"),
              r"EarlyStopping stops after 4 epochs, yours after 5",
              why="ignores min_delta: any decrease counts as an improvement"),
        Wrong(_patient_stopping(reset="self.wait"),
              r"EarlyStopping stops after 6 epochs, yours after 5",
              why="the count of epochs without improvement is not reset on an improvement"),
        Wrong(_patient_stopping(restore_on_stop="self.model.set_weights(self.best_weights)",
                                restore_at_end="False"),
              r"training ended with the weights of epoch 4, not of the best epoch 1",
              why="restores only when it stops, not at the end of every run"),
        Wrong(_patient_stopping(improved="current <= self.best - self.min_delta"),
              r"the best epoch is 1, yours says best_epoch=2",
              why="a tie counted as an improvement"),
    ],
}
