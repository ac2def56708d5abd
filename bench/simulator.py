"""Simulator throughput and formula-fit time (Bettgenhaeuser et al. 2020 reproduction).

    python bench/run.py --suite simulator [--quick]
    python bench/simulator.py [--quick]

Rows (medians over repeats, one process, CPU only; no TensorFlow involved):

* ``hmm_corpus``: tokens of embedded HMM base text generated per second;
* ``channel``: labels sent through the noisy channel per second (alpha form);
* ``tasks``: tokens per second to cut T = 6 tasks of n = 4800 tokens, apply the channel,
  measure AMI per auxiliary task and pack the padded batch arrays (one grid cell's data);
* ``alpha_for_ami``: seconds to find the alpha of one target AMI on 50,000 labels;
* ``fit_parametric``: seconds to read a 1,000-row CSV and fit the three built-in forms;
* ``fit_symbolic``: seconds for one gplearn run (one seed) with the tool's defaults
  (population 1000, 15 generations) on the same CSV; the tool runs 3 seeds by default.
"""

import os
import sys
import tempfile

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import print_table, row, time_repeats  # noqa: E402


def _csv_1000(path, seed=0):
    """1,000 rows of (n_tokens_per_task, n_tasks, mutual_info, fscore) with a planted formula."""
    rng = np.random.default_rng(seed)
    n = rng.choice([150, 300, 600, 1200, 2400, 4800], 1000)
    T = rng.integers(1, 7, 1000)
    ami = rng.choice([0.05, 0.2, 0.35, 0.5, 0.7, 0.9], 1000)
    f = 0.02 * np.sqrt(n) ** 0.5 + 0.05 * np.sqrt(T * ami) + rng.normal(0, 0.02, 1000)
    with open(path, "w") as fh:
        fh.write("n_tokens_per_task,n_tasks,mutual_info,fscore\n")
        for a, b, c, d in zip(n, T, ami, f, strict=True):
            fh.write(f"{a:d},{b:d},{c:g},{d:.6f}\n")
    return path


def run(quick=False):
    import mtlzoo.analysis.formulas as fm
    from mtlzoo.data import simulator as sim

    repeats = 3 if quick else 7
    rows = []

    def add(name, params, samples, tokens=None):
        r = row("simulator", name, params, samples)
        if tokens:
            r["tokens_per_s"] = tokens / r["median"]
        rows.append(r)

    for n in (100_000,) if quick else (100_000, 1_000_000):
        samples = time_repeats(lambda n=n: sim.hmm_corpus(pool_tokens=n, test_tokens=1, seed=1), repeats)
        add("hmm_corpus", {"tokens": n}, samples, n)
    corpus = sim.hmm_corpus(pool_tokens=200_000, test_tokens=5000, seed=0)
    labels = np.resize(corpus.pool_labels, 1_000_000)
    add(
        "channel",
        {"tokens": 1_000_000, "labels": corpus.num_labels},
        time_repeats(lambda: sim.apply_channel(labels, corpus.num_labels, alpha=0.8, rng=0), repeats),
        1_000_000,
    )

    def cell():
        t = sim.simulate_tasks(corpus, 6, 4800, alpha=0.9, seed=0)
        sim.to_task_data(corpus, t, 16, 5000)

    add("tasks", {"n_tasks": 6, "n_tokens_per_task": 4800}, time_repeats(cell, repeats), 6 * 4800)
    add(
        "alpha_for_ami",
        {"labels": 50_000, "target": 0.5},
        time_repeats(lambda: sim.alpha_for_ami(corpus.pool_labels[:50_000], 0.5, corpus.num_labels), repeats),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = _csv_1000(os.path.join(tmp, "rows.csv"))
        feats = ["n_tokens_per_task", "n_tasks", "mutual_info"]

        def parametric():
            X, y = fm.load_csv(path, "fscore", feats)
            tr, te = fm.holdout_split(len(y), 0.25, 0)
            for form in fm.BUILTIN_FORMS:
                fm.fit_parametric(X, y, feats, form, tr, te)

        add("fit_parametric", {"rows": 1000, "forms": 3}, time_repeats(parametric, repeats))
        pop, gens = (200, 5) if quick else (1000, 15)

        def symbolic():
            X, y = fm.load_csv(path, "fscore", feats)
            tr, te = fm.holdout_split(len(y), 0.25, 0)
            fm.fit_symbolic(X, y, feats, tr, te, seeds=(0,), population_size=pop, generations=gens)

        add(
            "fit_symbolic",
            {"rows": 1000, "seeds": 1, "population_size": pop, "generations": gens},
            time_repeats(symbolic, 2 if quick else 3, warmup=0),
        )
    print_table(
        rows,
        [
            ("benchmark", lambda r: r["name"]),
            ("params", lambda r: ", ".join(f"{k}={v}" for k, v in r["params"].items())),
            ("median s", lambda r: f"{r['median']:.4f}"),
            ("spread", lambda r: f"{100 * r['spread']:.0f}%"),
            ("tokens/s", lambda r: f"{r['tokens_per_s']:,.0f}" if "tokens_per_s" in r else ""),
        ],
    )
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv[1:])
