"""Callbacks of both doors: early stopping, best-epoch selection, task averages, Keras wiring.

The per-epoch logs of ``train()`` and of ``model.fit`` (with :func:`compile_model`) share
their names: ``<task>_loss`` (training), ``val_<task>_<metric>`` (validation, e.g.
``val_digit_accuracy``, ``val_digit_loss``). :class:`TaskAverage` adds
``val_mean_<metric>``, the unweighted mean over the tasks that report ``<metric>``, so a
run can be steered by "the task average".

From the config (``train`` section, see :data:`mtlzoo.config.EARLY_STOPPING_SCHEMA`):

* ``early_stopping: {monitor, patience, min_delta, mode}``: Keras' ``EarlyStopping``
  (stop once ``monitor`` has not improved by more than ``min_delta`` for ``patience``
  epochs after its best), as :class:`ResumableEarlyStopping`, whose counters ``train()``
  keeps in the run's checkpoint;
* ``select: best`` with ``select_monitor``: at the end of training the model gets back the
  weights of the epoch with the best ``select_monitor`` (:class:`SelectBest`), so
  ``model.keras`` and ``metrics.json`` describe that epoch; ``select: last`` keeps the last.

``mode: auto`` minimises names with loss/error-like words (loss, mae, mse, rmse, error,
perplexity) and maximises the rest (accuracy, auc, f1, ...).
"""

import keras
import numpy as np

from mtlzoo.errors import ConfigError

_MINIMISED = ("loss", "mae", "mse", "rmse", "error", "perplexity", "crossentropy")


def monitor_mode(monitor, mode="auto"):
    """``min`` or ``max`` for a monitored log name (``mode`` other than ``auto`` wins)."""
    if mode != "auto":
        return mode
    return "min" if any(w in monitor for w in _MINIMISED) else "max"


class TaskAverage(keras.callbacks.Callback):
    """Adds ``val_mean_<metric>`` (and ``mean_<metric>``) to each epoch's logs: the mean over
    the tasks that log ``[val_]<task>_<metric>``. Place it before the callbacks that read them."""

    def __init__(self, task_names):
        super().__init__()
        self.task_names = list(task_names)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            groups = {}
            for t in self.task_names:
                head = f"{prefix}{t}_"
                for key, value in list(logs.items()):
                    if key.startswith(head):
                        groups.setdefault(key[len(head) :], []).append(float(value))
            for metric, values in groups.items():
                logs[f"{prefix}mean_{metric}"] = float(np.mean(values))


class SelectBest(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the best ``monitor`` and restores them at the end.

    After training, ``best_epoch`` (0-based) and ``best`` hold the chosen epoch and its value.

    Across a resume (``train()``, :meth:`remember`): the best value and epoch live in two
    variables of the run's checkpoint, and the weights of an epoch before the restart are read
    back from its per-epoch weights file, so a killed and resumed run keeps the same epoch as
    an uninterrupted one. (A run started with ``select: last`` and resumed with ``best``
    chooses among the epochs after the restart.)
    """

    def __init__(self, monitor="val_mean_loss", mode="auto"):
        super().__init__()
        self.monitor, self.mode = monitor, monitor_mode(monitor, mode)
        self.best, self.best_epoch, self.best_weights = None, None, None
        self.state, self.weights_path = None, None

    def remember(self, state, weights_path):
        """Keeps the best value and epoch in ``state`` = (float64 variable, int64 variable; epoch
        -1 = none yet), saved in a checkpoint with the run, and reads an epoch's weights back from
        ``weights_path(epoch)`` when that epoch ended before this process started."""
        self.state, self.weights_path = state, weights_path

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_weights = None, None, None
        if self.state is not None and int(self.state[1].numpy()) >= 0:  # a resumed run: the best so far
            self.best, self.best_epoch = float(self.state[0].numpy()), int(self.state[1].numpy())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ConfigError(
                "train.select_monitor",
                f"{self.monitor!r} is not in the epoch logs; they have {', '.join(sorted(logs))}",
            )
        value = float(logs[self.monitor])
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better and np.isfinite(value):
            self.best, self.best_epoch = value, epoch
            self.best_weights = self.model.get_weights()
            if self.state is not None:
                self.state[0].assign(value)
                self.state[1].assign(epoch)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        elif self.best_epoch is not None and self.weights_path is not None:  # chosen before a restart
            from mtlzoo.fileio import local_copy

            with local_copy(self.weights_path(self.best_epoch)) as path:
                self.model.load_weights(path)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' ``EarlyStopping`` whose counters survive a resume of ``train()``.

    Without :meth:`remember` it is Keras' callback unchanged (the ``model.fit`` door). With it,
    the best value, its epoch, the epochs waited and the epoch it stopped at (-1 = not stopped)
    live in four variables of the run's checkpoint, written at every epoch end (before the
    epoch's checkpoint is saved) and read back at ``on_train_begin``: a killed and resumed run
    stops at the same epoch as an uninterrupted one, and a run killed after it decided to stop
    does not train on after the restart.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state = None

    def remember(self, state):
        """``state`` = (best: float64 variable, NaN = none yet; best_epoch, wait, stopped: int64 variables)."""
        self.state = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.state is None:
            return
        best, best_epoch, wait, stopped = (v.numpy() for v in self.state)
        self.best = None if np.isnan(best) else float(best)
        self.best_epoch, self.wait = int(best_epoch), int(wait)
        if int(stopped) >= 0:  # the run had decided to stop before it was killed
            self.stopped_epoch = int(stopped)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.state is not None:
            best = np.nan if self.best is None else float(self.best)
            stopped = self.stopped_epoch if self.model.stop_training else -1
            for v, x in zip(self.state, (best, self.best_epoch, self.wait, stopped), strict=True):
                v.assign(x)


class EpochLine(keras.callbacks.Callback):
    """One line per epoch, for logs piped to a file: ``epoch 3/10 (1.2 s): a_loss 0.31 ... val_a_accuracy 0.9``.

    Training logs first, then validation logs, 4 significant digits; flushed at once.
    """

    def __init__(self, epochs, stream=None):
        super().__init__()
        self.epochs, self.stream, self.start = epochs, stream, None

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import sys
        import time

        secs = time.perf_counter() - self.start if self.start is not None else float("nan")
        items = sorted((logs or {}).items(), key=lambda kv: (kv[0].startswith("val_"), kv[0]))
        cells = "  ".join(f"{k} {float(v):.4g}" for k, v in items if np.ndim(v) == 0)
        print(f"epoch {epoch + 1}/{self.epochs} ({secs:.1f} s): {cells}", file=self.stream or sys.stdout, flush=True)


def config_callbacks(train_cfg, task_names):
    """The callbacks the ``train`` section asks for: [TaskAverage, EarlyStopping?, SelectBest?].

    ``model.fit`` users pass them first: ``model.fit(..., callbacks=config_callbacks(...) + mine)``.
    """
    out = [TaskAverage(task_names)]
    from mtlzoo.config import optional_section

    es = optional_section(train_cfg.get("early_stopping"))
    if es:
        monitor = es.get("monitor", "val_mean_loss")
        out.append(
            ResumableEarlyStopping(
                monitor=monitor,
                patience=int(es.get("patience", 0)),
                min_delta=float(es.get("min_delta", 0.0)),
                mode=monitor_mode(monitor, es.get("mode", "auto")),
            )
        )
    if train_cfg.get("select", "last") == "best":
        out.append(SelectBest(train_cfg.get("select_monitor", "val_mean_loss")))
    return out


def prepare_callbacks(callbacks, model, train_cfg, task_names, epoch_lines=None):
    """``train()``'s callback list: the config's callbacks, an :class:`EpochLine` (when
    ``epoch_lines`` gives the number of epochs), then the user's, each given the model.

    Keras callbacks need ``set_model`` (EarlyStopping sets ``model.stop_training``) and
    ``on_train_begin`` (CSVLogger opens its file there); the trainer calls the latter.
    """
    lines = [EpochLine(epoch_lines)] if epoch_lines else []
    out = [*config_callbacks(train_cfg, task_names), *lines, *callbacks]
    model.stop_training = False
    for cb in out:
        if hasattr(cb, "set_model"):
            cb.set_model(model)
    return out
