"""Run folders of the studies: train a config into a folder once, reuse it on a rerun.

A study (transfer report, sweep) trains many sub-configs into sub-folders; a folder whose
``metrics.json`` exists is finished and is read instead of retrained, so rerunning the
study's command resumes it (an interrupted sub-run resumes from its own checkpoint). A
folder made by a *different* config is an error rather than a silent reuse.
"""

import json
import os
import time

from mtlzoo.errors import ConfigError


def _differs(old, new):
    """Whether two config dicts disagree on a key both have (a field added to the schema since is fine)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return any(_differs(old[k], new[k]) for k in old.keys() & new.keys())
    return old != new


def check_same_config(cfg, run_dir):
    """ConfigError if ``run_dir`` holds a run of a config other than ``cfg``."""
    from mtlzoo.config import resolve_config

    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        old = json.load(f)
    new = json.loads(json.dumps(resolve_config(cfg).to_dict(), sort_keys=True))
    if _differs(old, new):
        raise ConfigError(
            None,
            f"{run_dir} holds a run of a different config; use a new workdir or remove that folder",
        )


def train_or_load(cfg, run_dir, train_fn=None):
    """``(metrics, model or None, status)``: trains ``cfg`` into ``run_dir`` unless it is finished.

    ``model`` is None when the run was read back (load ``run_dir/model.keras`` if needed);
    ``status`` is one line for a progress log.
    """
    check_same_config(cfg, run_dir)
    metrics_path = os.path.join(run_dir, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            return json.load(f), None, "skipped (metrics.json exists)"
    if train_fn is None:
        from mtlzoo.training import train as train_fn
    import keras

    keras.backend.clear_session()
    start = time.time()
    result = train_fn(cfg, run_dir)
    return result.metrics, result.model, f"trained in {time.time() - start:.1f} s"
