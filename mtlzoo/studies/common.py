"""What every study shares: resumable run folders, result CSVs, statistics over seeds, tables.

**Run folders.** A study (transfer report, sweep, SVD, CoNLL, architectures) trains many
sub-configs into sub-folders; a folder whose ``metrics.json`` exists is finished and is
read instead of retrained, so rerunning the study's command resumes it (an interrupted
sub-run resumes from its own checkpoint). A folder made by a *different* config is an
error rather than a silent reuse (:func:`check_config_record`, :func:`train_or_load`).

**Result CSVs.** A grid study appends one row per finished cell, durable at once
(:func:`append_csv_row`: flush + fsync); :func:`read_csv_rows` reads the finished rows
back and drops a line torn by a crash.

**Statistics.** :func:`mean_std`, :func:`mean_se` and :func:`paired_stats` share one
NaN rule: a missing value (``None``) or a non-finite one (NaN, ±inf: a run that produced
no score) is left out, and the statistics are those of the remaining values. The
standard deviation is the sample one (``ddof=1``), 0 for a single value; with no value
left the mean and spread are NaN.

**Tables.** :func:`pm` formats ``mean ± std``; :func:`markdown_table` lays out rows.

**Progress.** :class:`Progress` prints the lines a person follows a long study by, flushed at
once: ``[3/40] mr+subj seed 1: training ... (elapsed 1m12s, ~9m left)`` when a unit of work
starts and ``[3/40] mr+subj seed 1: trained in 41 s (...)`` when it ends; a unit read back
from a finished folder is one line.

Every file is written atomically through :mod:`mtlzoo.fileio`.
"""

import csv
import io
import json
import math
import os
import time
import warnings

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import atomic_open, atomic_path, write_json

# --------------------------------------------------------------------------- run folders


def read_json(path):
    """The JSON document at ``path``, or None when there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _differs(old, new):
    """Whether two config dicts disagree on a key both have (a field added to the schema since is fine)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return any(_differs(old[k], new[k]) for k in old.keys() & new.keys())
    return old != new


def check_config_record(run_dir, config, sections=None, write=False):
    """ConfigError if ``run_dir/config.json`` records a config other than ``config`` (a dict).

    Two configs differ when a key both have holds different values (a field added to a
    schema since the folder was made is fine). ``sections``: compare only these top-level
    keys (the rest, e.g. a grid's values, may change on a resumed run); the error then
    names the first differing section. ``write``: record ``config`` in ``run_dir/config.json``
    (atomically) once it has passed the check.
    """
    path = os.path.join(run_dir, "config.json")
    new = json.loads(json.dumps(config, sort_keys=True))
    old = read_json(path)
    if old is not None:
        if sections is None:
            if _differs(old, new):
                raise ConfigError(
                    None, f"{run_dir} holds a run of a different config; use a new workdir or remove that folder"
                )
        else:
            for section in sections:
                if _differs(old.get(section), new.get(section)):
                    raise ConfigError(
                        section,
                        f"differs from the config {run_dir} was started with; use a new workdir "
                        f"(only {', '.join(k for k in new if k not in sections) or 'nothing'} may change "
                        "on a resumed run)",
                    )
    if write:
        os.makedirs(run_dir, exist_ok=True)
        write_json(config, path)


def check_same_config(cfg, run_dir):
    """ConfigError if ``run_dir`` holds a run of an mtlzoo config other than ``cfg`` (resolved first).
    ``train.verbose`` (how a run reports, not what it trains) is not compared."""
    from mtlzoo.config import resolve_config

    new = resolve_config(cfg).to_dict()
    old = read_json(os.path.join(run_dir, "config.json"))
    if isinstance(old, dict) and isinstance(old.get("train"), dict) and "verbose" in old["train"]:
        new["train"]["verbose"] = old["train"]["verbose"]
    check_config_record(run_dir, new)


def train_or_load(cfg, run_dir, train_fn=None, starting=None):
    """``(metrics, model or None, status)``: trains ``cfg`` into ``run_dir`` unless it is finished.

    ``model`` is None when the run was read back (load ``run_dir/model.keras`` if needed);
    ``status`` is one line for a progress log. ``starting()`` is called just before training
    (not for a run read back), e.g. :meth:`Progress.start`. A config that leaves
    ``train.verbose`` unset trains quietly (``0``): the study's :class:`Progress` lines are its
    log, one per unit, not each run's epoch lines.
    """
    from mtlzoo.config import resolve_config

    cfg = resolve_config(cfg)
    if cfg.train.verbose is None:
        cfg = cfg.copy_and_resolve_references()
        cfg.train.verbose = 0
    check_same_config(cfg, run_dir)
    metrics = read_json(os.path.join(run_dir, "metrics.json"))
    if metrics is not None:
        return metrics, None, "skipped (metrics.json exists)"
    if starting is not None:
        starting()
    if train_fn is None:
        from mtlzoo.training import train as train_fn
    import keras

    keras.backend.clear_session()
    start = time.time()
    result = train_fn(cfg, run_dir)
    return result.metrics, result.model, f"trained in {time.time() - start:.1f} s"


# --------------------------------------------------------------------------- progress


def format_duration(seconds):
    """``"45s"``, ``"1m12s"``, ``"2h05m"``: a duration as a person reads it (NaN/negative -> ``"?"``)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def print_flush(line):
    """``print`` then flush stdout: a line reaches a pipe or a log file at once."""
    import sys

    print(line, flush=True)
    sys.stdout.flush()


class Progress:
    """Progress lines of a study's ``total`` units of work (sub-runs, grid cells, seeds).

    ``start(i, what)`` says ``[ i/N] what: training ... (elapsed 1m12s, ~9m left)`` and
    ``done(i, what, status)`` says ``[ i/N] what: status``: two lines for a unit that works,
    one for a unit read back (``done`` without ``start``). Every line is flushed at once, so a
    log piped to a file grows as the study goes.

    Time left = (seconds per unit worked so far, in this process) x (units not yet done); units
    read back take no time, so on a resumed study the estimate errs high. Before the first unit
    finishes there is no estimate, only the elapsed time.

    Args:
        total: the number of units.
        say: called with each line (``print`` is made to flush; ``None``: silent).
        clock: seconds, monotonic (tests pass a fake).
        action: the word of a start line (``training``, ``solving``, ...).
        start_lines: False: :meth:`start` only notes the time (for many short units: one line
            per unit, at its end).
    """

    def __init__(self, total, say=print, clock=time.monotonic, action="training", start_lines=True):
        self.total, self.clock, self.action, self.start_lines = int(total), clock, action, start_lines
        self.say = None if say is None else (print_flush if say is print else say)
        self.width = len(str(self.total))
        self.t0 = clock()
        self.worked, self.worked_seconds, self.finished = 0, 0.0, 0
        self._started = {}

    def tag(self, i):
        return f"[{i:{self.width}d}/{self.total}]"

    def times(self):
        """``elapsed 1m12s, ~9m left`` (the estimate once a worked unit has finished)."""
        out = f"elapsed {format_duration(self.clock() - self.t0)}"
        if self.worked:
            left = self.worked_seconds / self.worked * max(self.total - self.finished, 0)
            out += f", ~{format_duration(left)} left"
        return out

    def start(self, i, what, action=None):
        """A unit begins its work: one line, with the elapsed time and the estimate."""
        self._started[i] = self.clock()
        if self.say is not None and self.start_lines:
            self.say(f"{self.tag(i)} {what}: {action or self.action} ... ({self.times()})")

    def done(self, i, what, status, times=False):
        """A unit ends (worked if :meth:`start` was called for it, else read back): one line;
        ``times``: with `` (elapsed ..., ~... left)`` counted with this unit done."""
        began = self._started.pop(i, None)
        if began is not None:
            self.worked += 1
            self.worked_seconds += self.clock() - began
        self.finished += 1
        if self.say is not None:
            self.say(f"{self.tag(i)} {what}: {status}" + (f" ({self.times()})" if times else ""))

    def note(self, line):
        """A free line (a header or a summary), flushed like the others."""
        if self.say is not None:
            self.say(line)


# --------------------------------------------------------------------------- result CSVs


def read_csv_rows(path, columns):
    """The complete rows (dicts of strings) of a result CSV with header ``columns``; [] if none.

    A last line without its newline (a crash mid-write) is cut from the file (atomically,
    fsynced) and not returned. ConfigError if the header is not ``columns``.
    """
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        raw = f.read()
    if raw and not raw.endswith(b"\n"):  # a crash mid-write: keep whole lines only
        raw = raw[: raw.rfind(b"\n") + 1]
        with atomic_open(path, "wb", fsync=True) as f:
            f.write(raw)
    text = raw.decode("utf-8")
    if not text:
        return []
    header = next(csv.reader(io.StringIO(text)))
    if header != list(columns):
        raise ConfigError("workdir", f"{path} has other columns than expected ({', '.join(columns)})")
    return list(csv.DictReader(io.StringIO(text)))


def _csv_cell(v):
    if isinstance(v, float | np.floating):
        return "nan" if math.isnan(v) else f"{float(v):.6g}"
    return str(v)


def append_csv_row(path, row, columns):
    """Appends ``row`` (a dict over ``columns``) to a result CSV and makes it durable (flush + fsync).

    A new or empty file gets the header first (written atomically). Floats keep 6
    significant digits; NaN is written ``nan``.
    """
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        with atomic_open(path, "w", fsync=True, newline="") as f:
            csv.writer(f).writerow(columns)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([_csv_cell(row[c]) for c in columns])
    with open(path, "a") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())


# --------------------------------------------------------------------------- statistics


def _finite(values):
    """``values`` as a float array with None and non-finite entries set to NaN."""
    a = np.array(values, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def mean_std(values, axis=None):
    """Mean and sample standard deviation of ``values`` under the module's NaN rule.

    None and non-finite values are left out; the standard deviation has ``ddof=1`` and is
    0 for a single value; with no value left both are NaN. ``axis`` as in numpy (``None``:
    all values, floats returned; else arrays).

    Example:
        >>> mean_std([1.0, None, 3.0, float("nan")])
        (2.0, 1.4142135623730951)
    """
    a = _finite(values)
    n = np.sum(~np.isnan(a), axis=axis)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=axis)
        std = np.nanstd(a, axis=axis, ddof=1)
    std = np.where(n == 1, 0.0, np.where(n == 0, np.nan, std))
    if axis is None:
        return float(mean), float(std)
    return mean, std


def mean_se(values, axis=None):
    """Mean and standard error ``std / sqrt(n)`` (``ddof=1``; 0 for one value), same NaN rule as :func:`mean_std`."""
    mean, std = mean_std(values, axis=axis)
    n = np.sum(~np.isnan(_finite(values)), axis=axis)
    with np.errstate(all="ignore"):
        se = np.where(n > 0, std / np.sqrt(np.maximum(n, 1)), np.nan)
    return (mean, float(se)) if axis is None else (mean, se)


def paired_stats(diffs):
    """Statistics of paired differences (same NaN rule): mean, median, std, se, counts, t-test p.

    ``t_test_p`` is scipy's one-sample t-test of mean 0 (NaN with fewer than two values or
    no spread); ``improved`` / ``worse`` / ``ties`` count positive, negative and zero ones.
    """
    from scipy import stats

    d = _finite(diffs).ravel()
    d = d[~np.isnan(d)]
    n = len(d)
    mean, std = mean_std(d)
    out = {
        "n": n,
        "mean_diff": mean,
        "median_diff": float(np.median(d)) if n else math.nan,
        "std": std if n else 0.0,
        "se": std / math.sqrt(n) if n > 1 else math.nan,
        "improved": int(np.sum(d > 0)),
        "worse": int(np.sum(d < 0)),
        "ties": int(np.sum(d == 0)),
    }
    out["t_test_p"] = float(stats.ttest_1samp(d, 0.0).pvalue) if n > 1 and std > 0 else math.nan
    return out


# --------------------------------------------------------------------------- tables


def pm(mean, std=None, scale=1.0, digits=2, missing="–"):
    """``"mean ± std"`` of ``scale * value`` with ``digits`` decimals; ``mean`` alone when ``std``
    is None; ``missing`` for a missing or NaN mean.

    Example:
        >>> pm(0.8123, 0.0101, scale=100), pm(0.5, None, digits=1), pm(float("nan"), 0.1)
        ('81.23 ± 1.01', '0.5', '–')
    """
    if mean is None or not math.isfinite(mean):
        return missing
    if std is None:
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def markdown_table(header, rows):
    """Lines of a Markdown table: the header row, the rule, one line per row (cells as strings)."""
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return lines


def save_figure(fig, path, dpi=110):
    """Saves a matplotlib figure atomically (format from ``path``'s extension) and closes it; returns ``path``."""
    import matplotlib.pyplot as plt

    with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    return path
