"""CoNLL-2000 part-of-speech tagging and chunking: multi-task versus single-task learning.

Three arms share every hyper-parameter of one config (``configs/conll2000_tagger.py``)
and differ only in their tasks:

* ``stl_pos``: the BiLSTM tagger trained on ``pos`` alone;
* ``stl_chunk``: the same on ``chunk`` alone;
* ``mtl``: one BiLSTM shared by ``pos`` and ``chunk`` (hard parameter sharing), the sum
  of the two token-level cross-entropies ``L = L_pos + L_chunk``.

Each (arm, seed) trains through :func:`mtlzoo.training.train` in
``<workdir>/<arm>/seed<seed>`` and is scored on the official CoNLL-2000 test split:

* token accuracy of each task over real (non-padding) tokens,
  ``acc = sum_i [argmax p_i = y_i] / #tokens``;
* for tasks whose tags are IOB (chunk), conlleval chunk precision, recall and F1,
  ``F1 = 2 P R / (P + R)`` with ``P = correct / predicted chunks``,
  ``R = correct / gold chunks`` (:func:`mtlzoo.metrics.tagging.entity_scores`).

A finished run (its ``result.json`` exists) is read back instead of retrained, and an
interrupted one resumes from its training checkpoint, so rerunning the study resumes.
The summary gives, per arm and metric, the mean and the sample standard deviation
(``ddof=1``) over seeds, and the paired per-seed difference MTL - STL (same seed: same
validation split, vocabulary and batch order) with its mean and sample standard deviation.

The comparison follows Søgaard & Goldberg (ACL 2016), who found that part-of-speech
tagging as an auxiliary task helps chunking (Ruder 2017's overview reports the same).

Example:
    >>> from mtlzoo.config import load_config_file
    >>> study = run_conll_study(load_config_file("configs/conll2000_tagger.py"), "/tmp/conll", seeds=(0,))
    >>> print(markdown_report(study))
"""

import os
import time

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.metrics.tagging import chunk_tag_names, is_iob, tagging_scores  # noqa: F401  (re-exported)
from mtlzoo.studies.common import Progress, check_same_config, mean_std, pm, read_json, save_figure

ARMS = {"stl_pos": ("pos",), "stl_chunk": ("chunk",), "mtl": ("pos", "chunk")}
ARM_LABELS = {"stl_pos": "STL pos", "stl_chunk": "STL chunk", "mtl": "MTL pos+chunk"}
# (task, metric) pairs of the report, in order; a metric an arm lacks is left out
METRICS = (("pos", "token_accuracy"), ("chunk", "token_accuracy"), ("chunk", "f1"))
METRIC_LABELS = {
    ("pos", "token_accuracy"): "POS token accuracy",
    ("chunk", "token_accuracy"): "chunk token accuracy",
    ("chunk", "f1"): "chunk F1 (conlleval)",
}
RESULT_FILE = "result.json"
CURVE_FILE = "curve.json"


# --------------------------------------------------------------------------- runs


def arm_config(base, arm, seed):
    """The config of one run: ``base`` with only the arm's tasks and ``seed`` set."""
    if arm not in ARMS:
        raise ConfigError(None, f"--arms: unknown arm {arm!r}; the arms are {', '.join(ARMS)}")
    missing = [t for t in ARMS[arm] if t not in base.tasks]
    if missing:
        raise ConfigError("tasks", f"arm {arm!r} needs task {missing[0]!r}, which the config does not define")
    cfg = base.copy_and_resolve_references()
    with cfg.unlocked():
        cfg.tasks = {t: cfg.tasks[t].to_dict() for t in ARMS[arm]}
        cfg.seed = int(seed)
    return cfg


class _CurveRecorder:
    """Trainer callback: the validation metrics after each epoch, merged into ``curve.json``."""

    def __init__(self, path):
        self.path = path
        self.curve = read_json(path) or []

    def on_epoch_end(self, epoch, logs):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items() if k.startswith("val_")}}
        self.curve = [r for r in self.curve if r["epoch"] != row["epoch"]] + [row]
        self.curve.sort(key=lambda r: r["epoch"])
        write_json(self.curve, self.path)


def run_one(config, workdir, split="test"):
    """Trains ``config`` in ``workdir`` (resuming) and scores it on ``split``; returns the run's result.

    The result (also written to ``<workdir>/result.json``) holds ``tasks``,
    ``seed``, ``test`` (:func:`tagging_scores`), ``curve`` (validation metrics per
    epoch), ``params`` and ``train_seconds`` (wall clock of this call's training).
    """
    import keras

    from mtlzoo.config import read_config
    from mtlzoo.data import load_data
    from mtlzoo.metrics import token_mask_of
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import train

    os.makedirs(workdir, exist_ok=True)
    recorder = _CurveRecorder(os.path.join(workdir, CURVE_FILE))
    keras.utils.clear_session()
    start = time.time()
    trained = train(config, workdir, callbacks=[recorder])
    seconds = time.time() - start
    resolved = read_config(workdir)  # the resolved config the run recorded
    tasks = tasks_from_config(resolved.tasks)
    data = load_data(resolved, tasks)
    s = data.split(split)
    model = trained.model
    names = list(model.input) if isinstance(model.input, dict) else ["tokens"]
    preds = model.predict({n: s.features[n] for n in names}, batch_size=256, verbose=0)
    scores = tagging_scores(
        {t.name: s.labels[t.name] for t in tasks}, preds, token_mask_of(s.features), data.info["tag_vocab"]
    )
    result = {
        "tasks": [t.name for t in tasks],
        "seed": int(config.seed),
        split: scores,
        "split": split,
        "curve": recorder.curve,
        "examples": len(s),
        "params": int(model.count_params()),
        "train_seconds": seconds,
    }
    write_json(result, os.path.join(workdir, RESULT_FILE))
    return result


def run_conll_study(base_config, workdir, seeds=(0, 1, 2), arms=tuple(ARMS), progress=print):
    """Runs (or reads back) every (arm, seed) and summarises them.

    Args:
        base_config: the ConfigDict of the multi-task config (it must define the arms' tasks).
        workdir: the study directory; run ``(arm, seed)`` lives in ``<workdir>/<arm>/seed<seed>``.
        seeds: config seeds (initialisation, validation split, vocabulary, batch order).
        arms: names from :data:`ARMS`.
        progress: callable(str) for progress lines, or None.

    Returns:
        ``{"seeds", "arms", "runs": {arm: [result per seed]}, "summary": summarize(...),
        "config": the base config as a dict}``; also written to ``<workdir>/conll_study.json``.
    """
    seeds = [int(s) for s in seeds]
    arms = list(arms)
    if not seeds or not arms:
        raise ConfigError(None, "--seeds and --arms must not be empty")
    if len(set(seeds)) != len(seeds) or len(set(arms)) != len(arms):
        raise ConfigError(None, "--seeds and --arms must not repeat a value")
    configs = {(a, s): arm_config(base_config, a, s) for a in arms for s in seeds}  # bad arms fail before training
    os.makedirs(workdir, exist_ok=True)
    runs = {a: [] for a in arms}
    prog, k = Progress(len(configs), progress), 0
    for seed in seeds:
        for arm in arms:
            k += 1
            run_dir = os.path.join(workdir, arm, f"seed{seed}")
            check_same_config(configs[(arm, seed)], run_dir)  # a folder of another config is refused
            done = read_json(os.path.join(run_dir, RESULT_FILE))
            what = f"{arm} seed {seed}"
            if done is not None:
                prog.done(k, what, f"done before ({_brief(done)})")
            else:
                prog.start(k, what, f"training in {run_dir}")
                done = run_one(configs[(arm, seed)], run_dir)
                prog.done(k, what, f"{_brief(done)}, {done['train_seconds']:.0f} s")
            runs[arm].append(done)
    study = {
        "seeds": seeds,
        "arms": arms,
        "runs": runs,
        "summary": summarize(runs),
        "config": base_config.to_dict(),
    }
    write_json(study, os.path.join(workdir, "conll_study.json"), nan_to_null=True)
    return study


def _brief(result):
    split = result.get("split", "test")
    parts = [f"{t} {m} {result[split][t][m]:.4f}" for t, m in METRICS if t in result[split] and m in result[split][t]]
    return ", ".join(parts)


# --------------------------------------------------------------------------- report


def _value(result, task, metric):
    split = result.get("split", "test")
    return result.get(split, {}).get(task, {}).get(metric)


def summarize(runs):
    """Per arm and metric the mean ± std over seeds, and the paired MTL - STL differences.

    Args:
        runs: ``{arm: [result per seed]}`` (results as :func:`run_one` returns them; only
            ``seed`` and ``test`` are read).

    Returns:
        ``{"arms": {arm: {"task/metric": {"mean", "std", "n", "values"}}},
        "paired": {"task/metric": {"stl", "seeds", "diffs", "mean", "std", "wins"}}}``:
        a paired entry compares ``mtl`` with the single-task arm of the same task over the
        seeds both have; ``wins`` counts seeds where MTL is higher.
    """
    out = {"arms": {}, "paired": {}}
    for arm, results in runs.items():
        cell = {}
        for task, metric in METRICS:
            vals = [_value(r, task, metric) for r in results]
            if all(v is None for v in vals):
                continue
            m, s = mean_std(vals)
            cell[f"{task}/{metric}"] = {"mean": m, "std": s, "n": sum(v is not None for v in vals), "values": vals}
        out["arms"][arm] = cell
    mtl = {r["seed"]: r for r in runs.get("mtl", [])}
    for task, metric in METRICS:
        stl_arm = f"stl_{task}"
        stl = {r["seed"]: r for r in runs.get(stl_arm, [])}
        seeds = sorted(set(mtl) & set(stl))
        pairs = [(s, _value(mtl[s], task, metric), _value(stl[s], task, metric)) for s in seeds]
        pairs = [(s, a, b) for s, a, b in pairs if a is not None and b is not None]
        if not pairs:
            continue
        diffs = [a - b for _, a, b in pairs]
        m, sd = mean_std(diffs)
        out["paired"][f"{task}/{metric}"] = {
            "stl": stl_arm,
            "seeds": [s for s, _, _ in pairs],
            "diffs": diffs,
            "mean": m,
            "std": sd,
            "wins": int(sum(d > 0 for d in diffs)),
        }
    return out


def markdown_report(study):
    """The study as Markdown: a table of test scores (x100, mean ± std over seeds) and one of
    the paired MTL - STL differences."""
    summary = study["summary"]
    keys = [(t, m) for t, m in METRICS if any(f"{t}/{m}" in c for c in summary["arms"].values())]
    head = ["arm", *[METRIC_LABELS[k] for k in keys]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(keys)]
    for arm, cell in summary["arms"].items():
        row = [ARM_LABELS.get(arm, arm)]
        for t, m in keys:
            c = cell.get(f"{t}/{m}")
            row.append(pm(c["mean"], c["std"], scale=100.0) if c else "–")
        lines.append("| " + " | ".join(row) + " |")
    seeds = ", ".join(map(str, study["seeds"]))
    first = next((r for rs in study["runs"].values() for r in rs), None)
    size = ""
    if first is not None:
        scores = first[first.get("split", "test")]
        tokens = next(iter(scores.values()))["tokens"]
        size = (
            f" ({first['examples']:,} sentences, {tokens:,} tokens)" if "examples" in first else f" ({tokens:,} tokens)"
        )
    lines += [
        "",
        f"Test split{size}, x100, mean ± sample standard deviation over seeds {seeds}.",
    ]
    if summary["paired"]:
        lines += [
            "",
            "| MTL − STL (paired by seed) | difference | MTL higher in |",
            "|---|---:|---:|",
        ]
        for key, p in summary["paired"].items():
            t, m = key.split("/")
            lines.append(
                f"| {METRIC_LABELS[(t, m)]} | {pm(p['mean'], p['std'], scale=100.0)} | {p['wins']} of {len(p['diffs'])} seeds |"
            )
    return "\n".join(lines) + "\n"


def plot_study(study, path):
    """Two panels: the paired test-score differences MTL - STL per metric (dots: seeds, bar:
    mean, whisker: std; above 0 = MTL better) and the validation token accuracy per epoch
    (mean over seeds) of each task, STL against MTL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, runs = study["summary"], study["runs"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    keys = [k for k in METRICS if f"{k[0]}/{k[1]}" in summary["paired"]]
    for i, key in enumerate(keys):
        p = summary["paired"][f"{key[0]}/{key[1]}"]
        diffs = 100 * np.asarray(p["diffs"])
        ax.bar(i, 100 * p["mean"], 0.5, yerr=100 * p["std"], color="C3", alpha=0.6, capsize=4)
        ax.plot(np.full(len(diffs), i), diffs, "k.", ms=6)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(keys)), [METRIC_LABELS[k] for k in keys], fontsize=8)
    ax.set_ylabel("MTL − STL on the test split (points)")
    ax.set_title(
        f"CoNLL-2000, paired by seed ({len(study['seeds'])} seeds; bar: mean, whisker: std, dots: seeds)", fontsize=9
    )
    ax.grid(axis="y", alpha=0.3)
    colors = {"mtl": "C3"}
    styles = {"pos": "-", "chunk": "--"}
    for arm, results in runs.items():
        for task in ARMS.get(arm, ()):
            key = f"val_{task}_accuracy"
            curves = [[r[key] for r in res["curve"] if key in r] for res in results]
            curves = [c for c in curves if c]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            mean = 100 * np.mean([c[:n] for c in curves], axis=0)
            ax2.plot(
                np.arange(1, n + 1),
                mean,
                styles[task],
                color=colors.get(arm, "C0"),
                marker="o",
                ms=3,
                label=f"{task}, {'MTL' if arm == 'mtl' else 'STL'}",
            )
    ax2.xaxis.get_major_locator().set_params(integer=True)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation token accuracy (x100)")
    ax2.set_title("learning curves (mean over seeds)", fontsize=9)
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_figure(fig, path, dpi=110)
    return path


def write_outputs(study, workdir, plot_path=None):
    """Writes ``<workdir>/conll_study.md`` and the plot (default ``<workdir>/conll_study.png``)."""
    md = os.path.join(workdir, "conll_study.md")
    write_text(markdown_report(study), md)
    png = plot_study(study, plot_path or os.path.join(workdir, "conll_study.png"))
    return md, png
