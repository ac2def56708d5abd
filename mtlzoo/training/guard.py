"""One writer per workdir, and a config guard for reruns (issue 18.2).

* :class:`WorkdirLock`: an exclusive ``fcntl.flock`` on ``<workdir>/.lock`` for the whole
  run. The kernel drops it when the process ends, however it ends (SIGKILL included), so a
  killed run never leaves a stale lock; a second writer is refused with one line naming
  the holder (its pid and host, written into the lock file). POSIX only, and local workdirs
  only: a remote one (``gs://``, ``ram://``) has no lock; keep one writer there yourself.
* :func:`check_rerun`: a rerun of a workdir that already holds a checkpoint or a final model
  must resolve to the same config, except the fields in :data:`RESUMABLE_FIELDS`;
  otherwise it is refused *before anything is written*, naming the differing fields.
  ``overwrite=True`` (``tools/train.py --overwrite``) deliberately starts afresh.
"""

import fcntl
import json
import os
import socket

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import exists, is_remote, isdir, open_file, remove, rmtree

# fields a resumed run may change: how long to train, the learning rate from here on (the
# config, not the checkpoint, sets it), and how the run reports and checkpoints
RESUMABLE_FIELDS = frozenset(
    {
        "train.epochs",
        "train.alignment_epochs",
        "train.learning_rate",
        "train.verbose",
        "train.steps_per_loop",
        "train.keep_checkpoints",
        "train.checkpoint_every_steps",
        "train.eval_split",
        "train.early_stopping",
        "train.select",
        "train.select_monitor",
    }
)


def _resumable(field):
    """True for a field of RESUMABLE_FIELDS or one inside it (``train.early_stopping.patience``)."""
    parts = field.split(".")
    return any(".".join(parts[:i]) in RESUMABLE_FIELDS for i in range(1, len(parts) + 1))


# what a fresh start removes (config.json is rewritten by the trainer)
RUN_OUTPUTS = ("state", "checkpoints", "logs", "model.keras", "metrics.json")


class WorkdirLock:
    """``with WorkdirLock(workdir):`` holds the workdir's writer lock; ConfigError if taken."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.path = os.path.join(workdir, ".lock")
        self.fd = None

    def __enter__(self):
        if is_remote(self.workdir):  # no flock on object stores: nothing to hold
            return self
        os.makedirs(self.workdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(
                "--workdir", f"{self.workdir} is being written by {holder}; wait for it or use another workdir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is None:
            return False
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
        return False


def _flatten(node, prefix=""):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def differing_fields(old, new):
    """Dotted paths whose values differ between two resolved configs (JSON-normalised)."""
    a = _flatten(json.loads(json.dumps(old)))
    b = _flatten(json.loads(json.dumps(new)))
    return sorted(k for k in a.keys() | b.keys() if a.get(k, KeyError) != b.get(k, KeyError))


def has_run(workdir):
    """Whether ``workdir`` holds a checkpoint or a final model."""
    return exists(os.path.join(workdir, "state", "checkpoint")) or exists(os.path.join(workdir, "model.keras"))


def _with_defaults_of_today(old):
    """A recorded config resolved again (:func:`mtlzoo.config.resolve_config`), so that a field
    added to mtlzoo after the run was recorded takes its default, the behaviour the run had
    (e.g. ``train.alignment_phase2``): a run recorded by an earlier version resumes. When the
    record no longer resolves (a removed option, a file gone), it is compared as it is."""
    from mtlzoo.config import resolve_config

    try:
        return resolve_config(old).to_dict()
    except Exception:  # noqa: BLE001  (any ConfigError or a value of an unexpected type)
        return old


def check_rerun(config, workdir, overwrite=False):
    """Refuses (ConfigError) a rerun whose config differs from the workdir's run; with
    ``overwrite`` removes the previous run's outputs instead. Call under the lock."""
    if overwrite:
        for name in RUN_OUTPUTS:
            path = os.path.join(workdir, name)
            if isdir(path):
                rmtree(path)
            elif exists(path):
                remove(path)
        return
    if not has_run(workdir):
        return
    path = os.path.join(workdir, "config.json")
    try:
        with open_file(path) as f:
            old = json.load(f)
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise ConfigError(
            "--workdir",
            f"{path} cannot be read ({e}); the run there cannot be resumed: use --overwrite to start afresh",
        ) from None
    new = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    diffs = [d for d in differing_fields(old, new) if not _resumable(d)]
    if diffs:  # resolving the record again (file checks) only when it differs as written
        diffs = [d for d in differing_fields(_with_defaults_of_today(old), new) if not _resumable(d)]
    if diffs:
        shown = ", ".join(diffs[:6]) + (f" and {len(diffs) - 6} more" if len(diffs) > 6 else "")
        raise ConfigError(
            "--workdir",
            f"{workdir} holds a run with another config ({shown} differ); rerun with its config to resume, "
            "or use --overwrite to start afresh",
        )


def _checkpoint_numbers(state_dir):
    import re

    out = []
    for name in os.listdir(state_dir) if os.path.isdir(state_dir) else []:
        m = re.fullmatch(r"ckpt-(\d+)\.index", name)
        if m:
            out.append(int(m.group(1)))
    return sorted(out, reverse=True)


def restore_newest_readable(ckpt, state_dir, max_to_keep, warn=print, core=None, optional=None):
    """A ``tf.train.CheckpointManager`` on ``state_dir`` with ``ckpt`` restored from the newest
    checkpoint that restores (issue 18.3); returns ``(manager, path or None)``.

    The checkpoints are found by their ``ckpt-N.index`` files, not by the ``checkpoint``
    index file alone: a garbled index is rewritten, and a truncated or corrupt newest
    checkpoint (``.index`` or ``.data``) is skipped with a warning for the one before it.

    ``core`` and ``optional`` (dicts name -> trackable; ``ckpt`` = both together) split what is
    restored: every ``core`` object must be in the checkpoint, while an ``optional`` one (a
    callback's memory, e.g. early stopping's counters) keeps its initial value when the
    checkpoint was written without it (a run resumed with ``train.early_stopping`` added, or one
    written by an older mtlzoo), instead of making the checkpoint unreadable.
    """
    import tensorflow as tf

    if core is not None:
        required = tf.train.Checkpoint(**core)
        extra = tf.train.Checkpoint(**optional) if optional else None
    else:
        required, extra = ckpt, None

    try:
        manager = tf.train.CheckpointManager(ckpt, state_dir, max_to_keep=max_to_keep)
    except Exception as e:  # noqa: BLE001  (a garbled `checkpoint` text file)
        warn(f"warning: {os.path.join(state_dir, 'checkpoint')} is unreadable ({type(e).__name__}); rebuilding it")
        os.remove(os.path.join(state_dir, "checkpoint"))
        manager = tf.train.CheckpointManager(ckpt, state_dir, max_to_keep=max_to_keep)
    for number in _checkpoint_numbers(state_dir):
        path = os.path.join(state_dir, f"ckpt-{number}")
        try:
            required.restore(path).assert_existing_objects_matched()
            if extra is not None:
                extra.restore(path).expect_partial()
        except Exception as e:  # noqa: BLE001  (DataLossError, truncated files, missing shards, ...)
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            warn(f"warning: checkpoint {path} cannot be restored ({type(e).__name__}: {first}); trying an older one")
            continue
        return manager, path
    return manager, None
