"""The sentiment experiments of Wu, Zhang & Ré (2020): STL vs MTL per encoder, and shared capacity.

    python tools/sentiment_study.py --study=stl_mtl --workdir=/tmp/sentiment_study \
        [--encoders=text_mlp,text_cnn,lstm] [--seeds=0]
    python tools/sentiment_study.py --study=capacity --workdir=/tmp/sentiment_study \
        [--capacity_encoder=text_mlp] [--capacities=5,10,25,50,100,200,500] [--seeds=0,1]

Configs come from ``configs/sentiment.py`` (``get_config("ENCODER[,TASK]")``), evaluated
on the **test** split (no model selection happens in these runs). ``stl_mtl`` trains, per
encoder, one single-task model per task and the six-task model and writes
``stl_mtl.{md,json,png}``; ``capacity`` trains the six-task model at each shared capacity r
(``units`` of text_mlp, ``hidden`` of lstm, ``num_filters`` of text_cnn) and writes
``capacity_<encoder>.{md,json,png}`` (with the STL mean of ``stl_mtl`` when it was run in
the same workdir). Runs live in ``--workdir/<encoder>/...``; rerunning resumes.
"""

from mtlzoo.cli._common import fail, int_list, run  # noqa: I001  (quiets TF logging first)
import json
import os

from absl import flags

_STUDY = flags.DEFINE_enum("study", None, ["stl_mtl", "capacity"], "Which experiment.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder: runs and the report files.")
_CONFIG = flags.DEFINE_string(
    "config",
    "sentiment",
    "Config file or packaged config name whose get_config('ENCODER[,TASK...]') gives each run's config.",
)
_ENCODERS = flags.DEFINE_list("encoders", ["text_mlp", "text_cnn", "lstm"], "Encoders for --study=stl_mtl.")
_CAP_ENCODER = flags.DEFINE_string("capacity_encoder", "text_mlp", "Encoder for --study=capacity.")
_CAPACITIES = flags.DEFINE_list("capacities", ["5", "10", "25", "50", "100", "200", "500"], "Shared capacities r.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (initialisation, data split, batch order).")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Override train.epochs of every run.")
flags.mark_flags_as_required(["study", "workdir"])

CAPACITY_KEY = {"text_mlp": ("units", lambda r: (r,)), "lstm": ("hidden", int), "text_cnn": ("num_filters", int)}


def _overlap(cfg):
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


def main(argv):
    del argv
    from mtlzoo.config import load_config_module
    from mtlzoo.configs import config_path

    seeds = int_list(_SEEDS.value, "seeds")
    capacities = int_list(_CAPACITIES.value, "capacities", minimum=1)
    if _STUDY.value == "capacity" and _CAP_ENCODER.value not in CAPACITY_KEY:
        fail(f"--capacity_encoder must be one of {', '.join(CAPACITY_KEY)}, got {_CAP_ENCODER.value!r}")
    module = load_config_module(config_path(_CONFIG.value))

    def config(arg):
        try:
            cfg = module.get_config(arg)
        except ValueError as e:
            fail(str(e))
        cfg.train.eval_split = "test"
        if _EPOCHS.value:
            cfg.train.epochs = _EPOCHS.value
        return cfg

    from mtlzoo.analysis import sweep

    encoders = _ENCODERS.value if _STUDY.value == "stl_mtl" else [_CAP_ENCODER.value]
    tasks = [list(config(enc).tasks) for enc in encoders][0]  # every encoder name checked
    wd = _WORKDIR.value
    os.makedirs(wd, exist_ok=True)

    def stl_variants(enc):
        return {f"{enc}/stl/{t}": config(f"{enc},{t}") for t in tasks}

    if _STUDY.value == "stl_mtl":
        variants = {}
        for enc in _ENCODERS.value:
            variants.update(stl_variants(enc))
            variants[f"{enc}/mtl"] = config(enc)
        runs = sweep.run_sweep(variants, wd, seeds)
        by_enc = {
            enc: sweep.stl_vs_mtl({t: runs[f"{enc}/stl/{t}"] for t in tasks}, runs[f"{enc}/mtl"], tasks)
            for enc in _ENCODERS.value
        }
        table = sweep.stl_vs_mtl_markdown(by_enc) + _overlap(config(_ENCODERS.value[0]))
        stem = os.path.join(wd, "stl_mtl")
        sweep.plot_stl_vs_mtl(by_enc, stem + ".png")
        payload = {"seeds": seeds, "split": "test", "results": by_enc}
    else:
        enc = _CAP_ENCODER.value
        key, value = CAPACITY_KEY[enc]
        variants = {}
        for r in capacities:
            cfg = config(enc)
            cfg.model.encoder[key] = value(r)
            variants[r] = cfg
        runs = sweep.run_sweep({f"{enc}/capacity/r{r}": c for r, c in variants.items()}, wd, seeds)
        curve = sweep.capacity_curve({r: runs[f"{enc}/capacity/r{r}"] for r in variants}, tasks)
        stl_mean = None
        if all(
            os.path.isfile(os.path.join(wd, enc, "stl", t, f"seed_{s}", "metrics.json")) for t in tasks for s in seeds
        ):
            stl_runs = sweep.run_sweep(stl_variants(enc), wd, seeds, progress=None)  # all finished: read back
            by_task = {t: stl_runs[f"{enc}/stl/{t}"] for t in tasks}
            stl_mean = sweep.stl_vs_mtl(by_task, runs[f"{enc}/capacity/r{min(variants)}"], tasks)["mean"]["stl"]
        table = sweep.capacity_markdown(curve, stl_mean)
        stem = os.path.join(wd, f"capacity_{enc}")
        sweep.plot_capacity(curve, stem + ".png", stl_mean, title=f"Six sentiment tasks: {enc} MTL vs shared capacity")
        payload = {"seeds": seeds, "split": "test", "encoder": enc, "curve": curve, "stl_mean": stl_mean}
    with open(stem + ".md", "w") as f:
        f.write(table + f"\nTest accuracy (%), mean ± std over seeds {', '.join(map(str, seeds))}.\n")
    with open(stem + ".json", "w") as f:
        json.dump(payload, f, indent=2)
    print(table)
    print(f"written: {stem}.md, {stem}.json, {stem}.png")


if __name__ == "__main__":
    run(main)
