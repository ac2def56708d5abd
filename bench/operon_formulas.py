"""Second symbolic-regression method for the formula study: pyoperon (Burlacu et al. 2020, Operon).

Not a dependency of mtlzoo: run it in an environment where ``pip install pyoperon`` worked
(it needs numpy, scikit-learn and sympy besides), with this checkout on PYTHONPATH:

    python bench/operon_formulas.py --csv=docs/data/simulator_grid.csv --target=fscore \\
        --features=n_tokens_per_task,n_tasks,mutual_info --seeds=0,1,2,3,4 --out=/tmp/operon.json

Same held-out split as ``tools/fit_formula.py`` (``holdout_split(rows, 0.25, 0)``). Operon
fits on the training rows (its own local optimisation of constants, Levenberg-Marquardt, and
model selection by minimum description length). Its model string is printed with 6
significant digits, parsed with :func:`mtlzoo.analysis.formula_search.parse_form` (no eval),
simplified with sympy and that printed formula is what is scored, as for gplearn.
"""

import argparse
import json
import time

import numpy as np

from mtlzoo.analysis import formula_search as fs
from mtlzoo.analysis import formulas as fm


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--max_length", type=int, default=30)
    ap.add_argument("--symbols", default="add,sub,mul,div,sqrt,log,constant,variable")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from pyoperon.sklearn import SymbolicRegressor

    names = a.features.split(",")
    X, y = fm.load_csv(a.csv, a.target, names)
    tr, te = fm.holdout_split(len(y), 0.25, 0)
    rows = []
    for s in [int(v) for v in a.seeds.split(",")]:
        t0 = time.perf_counter()
        est = SymbolicRegressor(
            allowed_symbols=a.symbols,
            generations=a.generations,
            max_length=a.max_length,
            population_size=1000,
            optimizer_iterations=10,
            n_threads=1,
            random_state=s,
        )
        est.fit(X[tr], y[tr])
        seconds = time.perf_counter() - t0
        text = est.get_model_string(est.model_, 6, names)
        expr = fs.simplify(fs.parse_form(text, names, flag="operon model"), digits=4)
        pred = fs.evaluate(expr, names, X)
        r2_test = fs.scores(y[te], pred[te])[0]
        r2_operon = fs.scores(y[te], est.predict(X[te]))[0]
        sq = fs.sqrt_factors(expr, names)
        rows.append(
            {
                "seed": s,
                "expression": str(expr),
                "r2_test": r2_test,
                "r2_train": fs.scores(y[tr], pred[tr])[0],
                "r2_test_operon_predict": r2_operon,
                "sqrt_factors": sq,
                "all_sqrt": all(sq.values()),
                "seconds": seconds,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    r2 = np.array([r["r2_test"] for r in rows])
    summary = {
        "all_sqrt": int(sum(r["all_sqrt"] for r in rows)),
        "runs": len(rows),
        "r2_test_mean": float(np.nanmean(r2)),
        "r2_test_std": float(np.nanstd(r2)),
        "r2_test_min": float(np.nanmin(r2)),
        "r2_test_max": float(np.nanmax(r2)),
    }
    print(json.dumps(summary))
    with open(a.out, "w") as f:
        json.dump({"rows": rows, "summary": summary, "args": vars(a)}, f, indent=1)


if __name__ == "__main__":
    main()
