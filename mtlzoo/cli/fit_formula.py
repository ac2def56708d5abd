"""Fit formulas of a performance column: gplearn symbolic regression and parametric forms.

    python tools/fit_formula.py --csv=docs/data/simulator_grid.csv --target=fscore \
        --features=n_tokens_per_task,n_tasks,mutual_info --workdir=/tmp/formulas \
        [--forms=maurer,sqrt_sum,log] [--form='pw=a + b*n_tasks**c'] [--seeds=0,1,2,3] \
        [--stability_seeds=0,1,2,3,4]

Symbolic regression: one gplearn restart per ``--seeds`` entry on the fit part of the
training rows, linear scaling, selection by the validation R^2 of the printed formula
(which is exactly what every reported R^2 scores; see mtlzoo.analysis.formula_search).
``--form`` text is parsed without eval: numbers, names, + - * / ** and sqrt/log/exp/abs.

Writes ``formulas.json``, ``formulas.md`` and one ``pred_vs_measured_<method>.png`` per
fit to ``--workdir`` and prints the Markdown table (held-out R^2 and MSE per method).
Built-in forms: ``maurer`` = a + b/sqrt(x1) + c/sqrt(x2) over the first two features;
``sqrt_sum`` = a + sum b_i sqrt(x_i); ``log`` = a + sum b_i log(x_i).
"""

from mtlzoo.cli._common import run  # noqa: I001
from absl import flags

PROGRESS_NAME = "formula fit"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_CSV = flags.DEFINE_string("csv", None, "CSV file with a header row.")
_TARGET = flags.DEFINE_string("target", None, "Column to explain (e.g. fscore).")
_FEATURES = flags.DEFINE_list("features", None, "Feature columns, e.g. n_tokens_per_task,n_tasks,mutual_info.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory: formulas.json, formulas.md, plots.")
_FORMS = flags.DEFINE_list("forms", ["maurer", "sqrt_sum", "log"], "Built-in parametric forms to fit.")
_FORM = flags.DEFINE_multi_string("form", [], "Extra form name=expression over feature names (repeatable).")
_SYMBOLIC = flags.DEFINE_boolean("symbolic", True, "Run gplearn symbolic regression.")
_SEEDS = flags.DEFINE_list(
    "seeds",
    ["0", "1", "2", "3"],
    "One gplearn restart per seed; the printed formula with the best validation R^2 wins.",
)
_VALIDATION = flags.DEFINE_float("validation_fraction", 0.25, "Share of the training rows that selects the restart.")
_SCALING = flags.DEFINE_boolean("linear_scaling", True, "Fitness is the RMSE of a + b*f (Keijzer 2003).")
_CONST = flags.DEFINE_list("const_range", ["-1", "1"], "gplearn's range of random constants; 'none' for none.")
_STABILITY = flags.DEFINE_list(
    "stability_seeds",
    [],
    "Also repeat the whole search once per outer seed s (restarts 100*s + j for j < len(--seeds), "
    "validation split seeded by s) and write stability.md / stability.json.",
)
_POPULATION = flags.DEFINE_integer("population_size", 1000, "gplearn population size.")
_GENERATIONS = flags.DEFINE_integer("generations", 15, "gplearn generations.")
_PARSIMONY = flags.DEFINE_float("parsimony", None, "gplearn parsimony coefficient (default 1e-3 * std of the target).")
_FUNCTIONS = flags.DEFINE_list("function_set", ["add", "sub", "mul", "div", "sqrt", "log"], "gplearn functions.")
_TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.25, "Held-out fraction of the rows.")
_SPLIT_SEED = flags.DEFINE_integer("split_seed", 0, "Seed of the held-out split.")
flags.mark_flags_as_required(["csv", "target", "features", "workdir"])


def _ints(flag, values):
    from mtlzoo.errors import ConfigError

    try:
        return [int(v) for v in values]
    except ValueError:
        raise ConfigError(flag, f"must be integers, got {','.join(values)}") from None


def main(argv):
    del argv
    import math

    import mtlzoo.analysis.formulas as formulas
    from mtlzoo.errors import ConfigError

    seeds = _ints("--seeds", _SEEDS.value)
    outer = _ints("--stability_seeds", _STABILITY.value)
    if [c.lower() for c in _CONST.value] in (["none"], []):
        const_range = None
    else:
        try:
            const_range = tuple(float(c) for c in _CONST.value)
        except ValueError:
            const_range = ()
        if len(const_range) != 2 or const_range[0] > const_range[1]:
            raise ConfigError(
                "--const_range", f"give LOW,HIGH with LOW <= HIGH or 'none', got {','.join(_CONST.value)}"
            )
    for flag, v in (("--population_size", _POPULATION.value), ("--generations", _GENERATIONS.value)):
        if v < 1:
            raise ConfigError(flag, f"must be >= 1, got {v}")
    if _PARSIMONY.value is not None and not (math.isfinite(_PARSIMONY.value) and _PARSIMONY.value >= 0):
        raise ConfigError("--parsimony", f"must be a finite number >= 0, got {_PARSIMONY.value}")
    X, y = formulas.load_csv(_CSV.value, _TARGET.value, _FEATURES.value)
    forms = [f for f in _FORMS.value if f] + list(_FORM.value)
    for f in forms:  # fail before the slow part on a bad form
        formulas.form_expression(f, _FEATURES.value)
    from mtlzoo.studies.common import Progress

    prog = Progress(len(seeds) * (int(_SYMBOLIC.value) + len(outer)), print, action="searching")
    unit = [0]

    def restart(event, what, status=""):  # one gplearn restart = one unit of progress
        if event == "start":
            unit[0] += 1
            prog.start(unit[0], what)
        else:
            prog.done(unit[0], what, status, times=True)

    report = formulas.fit_formulas(
        X,
        y,
        _FEATURES.value,
        forms=forms,
        symbolic=_SYMBOLIC.value,
        test_fraction=_TEST_FRACTION.value,
        split_seed=_SPLIT_SEED.value,
        seeds=seeds,
        population_size=_POPULATION.value,
        generations=_GENERATIONS.value,
        parsimony_coefficient=_PARSIMONY.value,
        function_set=_FUNCTIONS.value,
        validation_fraction=_VALIDATION.value,
        linear_scaling=_SCALING.value,
        const_range=const_range,
        progress=restart if _SYMBOLIC.value else None,
    )
    paths = formulas.write_report(report, _WORKDIR.value, _TARGET.value, _CSV.value)
    print(formulas.report_markdown(report, _TARGET.value, _CSV.value))
    print(f"wrote {paths['json']}, {paths['markdown']} and {len(paths) - 2} plots")
    if outer:
        import os

        from mtlzoo.fileio import write_json, write_text

        tr, te = formulas.holdout_split(len(y), _TEST_FRACTION.value, _SPLIT_SEED.value)
        rows = formulas.search_stability(
            X,
            y,
            _FEATURES.value,
            tr,
            te,
            outer_seeds=outer,
            restarts=len(seeds),
            population_size=_POPULATION.value,
            generations=_GENERATIONS.value,
            parsimony_coefficient=_PARSIMONY.value,
            function_set=_FUNCTIONS.value,
            validation_fraction=_VALIDATION.value,
            linear_scaling=_SCALING.value,
            const_range=const_range,
            progress=restart,
        )
        md = formulas.stability_markdown(rows, _FEATURES.value)
        write_text(md, os.path.join(_WORKDIR.value, "stability.md"))
        slim = [{**{k: v for k, v in r.items() if k != "fit"}, "runs": r["fit"].details["runs"]} for r in rows]
        write_json(slim, os.path.join(_WORKDIR.value, "stability.json"), nan_to_null=True)
        formulas.plot_stability(rows, os.path.join(_WORKDIR.value, "stability.png"))
        print(md)


if __name__ == "__main__":
    run(main)
