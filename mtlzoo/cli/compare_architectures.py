"""Compare multi-task architectures on one config, averaged over seeds; writes a Markdown table.

    python tools/compare_architectures.py --config=configs/compare_architectures.py \
        --workdir=/tmp/mtlzoo_architectures --architectures=shared_bottom,mmoe,ple,cross_stitch --seeds=0,1,2

The config file's ``get_config(architecture)`` gives each run's config (a
``get_config()`` without an argument is used as is, with ``model.architecture`` set).
Each (architecture, seed) trains in ``WORKDIR/<architecture>/seed<seed>`` through
:func:`mtlzoo.training.train`; a finished run (its ``metrics.json`` exists) is reused,
so rerunning the command resumes. Writes ``WORKDIR/architectures.md`` (mean +- std of
``--metric`` per task on ``train.eval_split``, trainable parameters) and
``WORKDIR/<architecture>/seed<seed>/architecture_statistics.json`` (mean gate weights
or cross-stitch alphas on the evaluation split).
"""

from mtlzoo.cli._common import fail, int_list, run  # noqa: I001  (quiets TF logging first)
import inspect
import json
import os

from absl import flags

_CONFIG = flags.DEFINE_string("config", None, "Config file with get_config(architecture) or get_config().")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory: one run per architecture and seed, the table.")
_ARCHS = flags.DEFINE_list(
    "architectures", ["shared_bottom", "mmoe", "ple", "cross_stitch"], "Architectures to compare (model.architecture)."
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (config.seed: initialisation, data split, label drops).")
_METRIC = flags.DEFINE_string("metric", "accuracy", "Metric of metrics.json reported per task.")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Override train.epochs.")
flags.mark_flags_as_required(["config", "workdir"])


def load_config(path, architecture):
    from mtlzoo.config import load_config_module
    from mtlzoo.configs import config_path

    module = load_config_module(config_path(path))
    takes_arg = bool(inspect.signature(module.get_config).parameters)
    cfg = module.get_config(architecture) if takes_arg else module.get_config()
    cfg.model.architecture = architecture
    return cfg


def mean_std(values):
    import numpy as np

    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def markdown_table(results, tasks, metric, seeds):
    """``results``: {arch: {"metrics": [per-seed metrics.json], "params": int}} -> Markdown."""
    head = ["architecture", "params", *[f"{t} {metric}" for t in tasks], f"mean {metric}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arch, r in results.items():
        cells = [f"`{arch}`", str(r["params"])]
        for t in tasks:
            m, s = mean_std([run_metrics[t][metric] for run_metrics in r["metrics"]])
            cells.append(f"{m:.4f} ± {s:.4f}")
        m, s = mean_std([sum(rm[t][metric] for t in tasks) / len(tasks) for rm in r["metrics"]])
        cells.append(f"{m:.4f} ± {s:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean ± sample standard deviation over seeds {', '.join(map(str, seeds))}.")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from mtlzoo.config import resolve_config
    from mtlzoo.errors import ConfigError

    seeds = int_list(_SEEDS.value, "seeds")
    if not _ARCHS.value:
        fail("--architectures must not be empty")
    from mtlzoo.models import ARCHITECTURES

    for arch in _ARCHS.value:
        if arch not in ARCHITECTURES.names():
            fail(f"--architectures: unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES.names())}")
    configs = {}
    for arch in _ARCHS.value:
        cfg = load_config(_CONFIG.value, arch)
        if _EPOCHS.value:
            cfg.train.epochs = _EPOCHS.value
        configs[arch] = resolve_config(cfg)  # every config checked before any training
    import numpy as np

    from mtlzoo.data import load_data
    from mtlzoo.models.soft_sharing import architecture_statistics
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.training import train

    results = {}
    tasks = None
    for arch, base in configs.items():
        results[arch] = {"metrics": [], "params": None}
        for seed in seeds:
            cfg = base.copy_and_resolve_references()
            cfg.seed = seed
            wd = os.path.join(_WORKDIR.value, arch, f"seed{seed}")
            done = os.path.join(wd, "metrics.json")
            if not os.path.isfile(done):
                print(f"training {arch} seed {seed} -> {wd}", flush=True)
                result = train(cfg, wd)
                model = result.model
                specs = tasks_from_config(cfg.tasks)
                split = load_data(cfg, specs).split(cfg.train.eval_split)
                inputs = {k: split.features[k] for k in (model.input if isinstance(model.input, dict) else {})}
                stats = architecture_statistics(model, inputs)
                with open(os.path.join(wd, "architecture_statistics.json"), "w") as f:
                    json.dump(stats, f, indent=2, sort_keys=True)
                params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
                with open(os.path.join(wd, "params.json"), "w") as f:
                    json.dump({"trainable_params": params}, f)
            with open(done) as f:
                metrics = json.load(f)
            with open(os.path.join(wd, "params.json")) as f:
                results[arch]["params"] = json.load(f)["trainable_params"]
            tasks = [t for t in cfg.tasks]
            for t in tasks:
                if _METRIC.value not in metrics[t]:
                    raise ConfigError(
                        None, f"--metric: task {t} has no {_METRIC.value!r} (it has {', '.join(metrics[t])})"
                    )
            results[arch]["metrics"].append(metrics)
    table = markdown_table(results, tasks, _METRIC.value, seeds)
    out = os.path.join(_WORKDIR.value, "architectures.md")
    with open(out, "w") as f:
        f.write(table)
    print(table)
    print(f"table written to {out}")


if __name__ == "__main__":
    run(main)
