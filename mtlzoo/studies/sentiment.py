"""The sentiment experiments of Wu, Zhang & Ré (ICLR 2020): STL vs MTL per encoder, and shared capacity.

Run configs come from a config file whose ``get_config("ENCODER[,TASK...]")`` gives one run
(``configs/sentiment.py``: the six tasks mr, subj, cr, mpqa, trec, sst2), evaluated on the
**test** split (no model selection happens in these runs). Runs are trained or read back by
:func:`mtlzoo.studies.sweep.run_sweep` under ``<workdir>/<encoder>/...``, so rerunning resumes.

* ``stl_mtl``: per encoder, one single-task model per task and the six-task model; the
  table is per-task STL, MTL and the paired gain MTL - STL (mean ± std over seeds), plus the
  cross-task test/train sentence overlap (:mod:`mtlzoo.analysis.overlap`). Files:
  ``stl_mtl.{md,json,png}``.
* ``capacity``: the six-task model at each shared capacity r (``units`` of text_mlp,
  ``hidden`` of lstm, ``num_filters`` of text_cnn; the paper's Sec. 3.1 capacity study), with
  the STL mean of ``stl_mtl`` when it was run in the same workdir. Files:
  ``capacity_<encoder>.{md,json,png}``.

Example:
    >>> table, stem = sentiment_study("capacity", "/tmp/sentiment", "configs/sentiment.py",
    ...                               capacity_encoder="text_mlp", capacities=(5, 50), seeds=(0,))
"""

import os

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import write_json, write_text
from mtlzoo.studies import sweep

STUDIES = ("stl_mtl", "capacity")
# encoder -> (the encoder field that sets the shared capacity r, r -> its value)
CAPACITY_KEY = {"text_mlp": ("units", lambda r: (r,)), "lstm": ("hidden", int), "text_cnn": ("num_filters", int)}


def overlap_markdown(cfg):
    """Markdown: test sentences of each task that are training sentences of another (see mtlzoo.analysis.overlap)."""
    from mtlzoo.analysis.overlap import cross_task_overlap, overlap_markdown
    from mtlzoo.config import resolve_config
    from mtlzoo.data import load_data
    from mtlzoo.tasks import tasks_from_config

    resolved = resolve_config(cfg)
    specs = tasks_from_config(resolved.tasks)
    names = [t.name for t in specs]
    overlap, counts = cross_task_overlap(load_data(resolved, specs), names)
    return (
        "\nTest sentences of a task (row) that are, token for token, training sentences of a task (column); "
        "the MTL model trains on all of them:\n\n" + overlap_markdown(overlap, counts, names)
    )


def sentiment_study(
    study,
    workdir,
    config_path,
    encoders=("text_mlp", "text_cnn", "lstm"),
    capacity_encoder="text_mlp",
    capacities=(5, 10, 25, 50, 100, 200, 500),
    seeds=(0,),
    epochs=None,
):
    """Runs ``study`` (``stl_mtl`` or ``capacity``) and writes its ``.md``, ``.json`` and ``.png``.

    Returns:
        ``(table, stem)``: the Markdown table and the path of the files without extension.

    Raises:
        ConfigError: an unknown study or capacity encoder, or a config argument the config
            file refuses (an unknown encoder or task), before any training.
    """
    from mtlzoo.config import load_config_module

    if study not in STUDIES:
        raise ConfigError(None, f"--study must be one of {', '.join(STUDIES)}, got {study!r}")
    if study == "capacity" and capacity_encoder not in CAPACITY_KEY:
        raise ConfigError(
            None, f"--capacity_encoder must be one of {', '.join(CAPACITY_KEY)}, got {capacity_encoder!r}"
        )
    module = load_config_module(config_path)
    seeds = list(seeds)

    def config(arg):
        try:
            cfg = module.get_config(arg)
        except ValueError as e:
            raise ConfigError(None, str(e)) from None
        cfg.train.eval_split = "test"
        if epochs:
            cfg.train.epochs = epochs
        return cfg

    chosen = list(encoders) if study == "stl_mtl" else [capacity_encoder]
    tasks = [list(config(enc).tasks) for enc in chosen][0]  # every encoder name checked
    os.makedirs(workdir, exist_ok=True)

    def stl_variants(enc):
        return {f"{enc}/stl/{t}": config(f"{enc},{t}") for t in tasks}

    if study == "stl_mtl":
        variants = {}
        for enc in encoders:
            variants.update(stl_variants(enc))
            variants[f"{enc}/mtl"] = config(enc)
        runs = sweep.run_sweep(variants, workdir, seeds)
        by_enc = {
            enc: sweep.stl_vs_mtl({t: runs[f"{enc}/stl/{t}"] for t in tasks}, runs[f"{enc}/mtl"], tasks)
            for enc in encoders
        }
        table = sweep.stl_vs_mtl_markdown(by_enc) + overlap_markdown(config(chosen[0]))
        stem = os.path.join(workdir, "stl_mtl")
        sweep.plot_stl_vs_mtl(by_enc, stem + ".png")
        payload = {"seeds": seeds, "split": "test", "results": by_enc}
    else:
        enc = capacity_encoder
        key, value = CAPACITY_KEY[enc]
        variants = {}
        for r in capacities:
            cfg = config(enc)
            cfg.model.encoder[key] = value(r)
            variants[r] = cfg
        runs = sweep.run_sweep({f"{enc}/capacity/r{r}": c for r, c in variants.items()}, workdir, seeds)
        curve = sweep.capacity_curve({r: runs[f"{enc}/capacity/r{r}"] for r in variants}, tasks)
        stl_mean = None
        if all(
            os.path.isfile(os.path.join(workdir, enc, "stl", t, f"seed_{s}", "metrics.json"))
            for t in tasks
            for s in seeds
        ):
            stl_runs = sweep.run_sweep(stl_variants(enc), workdir, seeds, progress=None)  # all finished: read back
            by_task = {t: stl_runs[f"{enc}/stl/{t}"] for t in tasks}
            stl_mean = sweep.stl_vs_mtl(by_task, runs[f"{enc}/capacity/r{min(variants)}"], tasks)["mean"]["stl"]
        table = sweep.capacity_markdown(curve, stl_mean)
        stem = os.path.join(workdir, f"capacity_{enc}")
        sweep.plot_capacity(curve, stem + ".png", stl_mean, title=f"Six sentiment tasks: {enc} MTL vs shared capacity")
        payload = {"seeds": seeds, "split": "test", "encoder": enc, "curve": curve, "stl_mean": stl_mean}
    write_text(table + f"\nTest accuracy (%), mean ± std over seeds {', '.join(map(str, seeds))}.\n", stem + ".md")
    write_json(payload, stem + ".json", sort_keys=False)
    return table, stem
