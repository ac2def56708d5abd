"""Learned formulas of multi-task performance: symbolic regression and parametric fits.

After Bettgenhaeuser, Hedderich & Klakow (2020), "Learning Functions to Study the
Benefit of Multitask Learning" (arXiv 2006.05561), Sec. 4: fit main-task performance
(e.g. F1) as a function of the number of tasks T, tokens per task n and task
relatedness (AMI) with genetic-programming symbolic regression (gplearn), and compare
with least-squares fits of named forms:

* ``maurer``: ``a + b / sqrt(x1) + c / sqrt(x2)`` over the first two features (n and T:
  the shape of the bound of Maurer, Pontil & Romera-Paredes 2016, JMLR, Theorem 1);
* ``sqrt_sum``: ``a + sum_i b_i sqrt(x_i)`` over all features (the paper's finding:
  factors sqrt(n), sqrt(T), sqrt(AMI));
* ``log``: ``a + sum_i b_i log(x_i)`` over all features;
* any expression given as ``name=expr`` (e.g. ``pow=a + b*n**c``): symbols that are
  not features are coefficients; linear ones are solved by least squares, others by
  ``scipy.optimize.least_squares``.

Every fit is scored on held-out rows (R^2 and MSE), simplified with sympy, and checked
for ``sqrt`` factors of each feature. :func:`write_report` saves JSON, Markdown and a
predicted-vs-measured plot per method (matplotlib, Agg backend).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.c_[rng.uniform(100, 4e4, 200), rng.integers(1, 16, 200)]
    >>> y = 0.9 - 1 / np.sqrt(X[:, 0]) - 0.5 / np.sqrt(X[:, 1])
    >>> fit = fit_parametric(X, y, ["n", "T"], "maurer", *holdout_split(200, 0.25, 0))
    >>> [round(fit.coefficients[k], 3) for k in "abc"]
    [0.9, -1.0, -0.5]

gplearn 0.4.3 works with scikit-learn 1.9 as installed (it uses
``sklearn.utils.validation.validate_data``); no shim is needed.
"""

import dataclasses
import os
import time

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import atomic_path, write_json, write_text

FUNCTION_SET = ("add", "sub", "mul", "div", "sqrt", "log")
BUILTIN_FORMS = ("maurer", "sqrt_sum", "log")
_COEF_NAMES = "abcdefghkmpqrsuvwz"


@dataclasses.dataclass
class Fit:
    """One fitted formula and its scores.

    ``expression`` is the simplified sympy expression as text (coefficients rounded to 4
    significant digits); ``coefficients`` the fitted constants of a parametric form;
    ``sqrt_factors`` maps each feature to True where it occurs under a square root
    (``x**(1/2)``, ``x**(-1/2)``, ``sqrt(... x ...)``).
    """

    method: str
    kind: str  # "symbolic" | "parametric"
    expression: str
    template: str = ""
    coefficients: dict = dataclasses.field(default_factory=dict)
    r2_train: float = float("nan")
    r2_test: float = float("nan")
    mse_train: float = float("nan")
    mse_test: float = float("nan")
    seconds: float = 0.0
    sqrt_factors: dict = dataclasses.field(default_factory=dict)
    details: dict = dataclasses.field(default_factory=dict)
    predictions_test: list = dataclasses.field(default_factory=list, repr=False)

    def to_dict(self):
        return dataclasses.asdict(self)


def load_csv(path, target, features):
    """Reads ``features`` and ``target`` columns of a CSV as floats; drops rows with NaN there.

    Returns ``(X [rows, len(features)], y [rows])``. Raises ConfigError naming the flag
    (``--csv``, ``--target``, ``--features``) for a missing file or column.
    """
    import csv

    if not os.path.isfile(path):
        raise ConfigError("--csv", f"file {path} does not exist")
    if not features:
        raise ConfigError("--features", "give at least one feature column")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        rows = list(reader)
    for flag, names in (("--target", [target]), ("--features", features)):
        for name in names:
            if name not in columns:
                raise ConfigError(flag, f"column {name!r} is not in {path}; it has {', '.join(columns)}")
    try:
        data = np.array([[float(r[c]) for c in [*features, target]] for r in rows], dtype=np.float64)
    except ValueError as e:
        raise ConfigError("--csv", f"{path} has a non-numeric value in a used column: {e}") from e
    if data.size == 0:
        raise ConfigError("--csv", f"{path} has no rows")
    data = data[np.isfinite(data).all(axis=1)]
    if len(data) < 8:
        raise ConfigError("--csv", f"{path} has {len(data)} complete rows; at least 8 are needed")
    return data[:, :-1], data[:, -1]


def holdout_split(n_rows, test_fraction=0.25, seed=0):
    """Seeded random split of ``range(n_rows)`` into (train indices, held-out indices)."""
    if not 0 < test_fraction < 1:
        raise ConfigError("test_fraction", f"must be in (0, 1), got {test_fraction}")
    order = np.random.default_rng(seed).permutation(n_rows)
    n_test = max(1, int(round(test_fraction * n_rows)))
    if n_rows - n_test < 2:
        raise ConfigError("test_fraction", f"leaves {n_rows - n_test} training rows of {n_rows}")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _symbols(feature_names):
    import sympy

    return [sympy.Symbol(_safe_name(n), positive=True) for n in feature_names]


def _safe_name(name):
    return name if name.isidentifier() else "".join(c if c.isalnum() else "_" for c in name)


def program_to_sympy(program, feature_names):
    """A gplearn program (``est._program``) as a sympy expression over positive feature symbols.

    gplearn's protected operators are written as their plain forms where the features
    are positive: ``sqrt(|x|)`` -> ``sqrt(Abs(x))``, ``log(|x|)`` -> ``log(Abs(x))``,
    ``div`` -> ``/`` (gplearn returns 1 where ``|denominator| < 0.001``).
    """
    import sympy

    syms = _symbols(feature_names)
    ops = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "sqrt": lambda a: sympy.sqrt(sympy.Abs(a)),
        "log": lambda a: sympy.log(sympy.Abs(a)),
        "neg": lambda a: -a,
        "inv": lambda a: 1 / a,
        "abs": sympy.Abs,
        "max": sympy.Max,
        "min": sympy.Min,
        "sin": sympy.sin,
        "cos": sympy.cos,
        "tan": sympy.tan,
    }
    nodes = list(program.program)
    pos = 0

    def build():
        nonlocal pos
        node = nodes[pos]
        pos += 1
        if hasattr(node, "arity"):
            args = [build() for _ in range(node.arity)]
            if node.name not in ops:
                return sympy.Function(node.name)(*args)
            return ops[node.name](*args)
        if isinstance(node, (int, np.integer)):
            return syms[int(node)]
        return sympy.Float(float(node))

    return build()


def simplify(expr, digits=4, timeout=20.0):
    """sympy-simplified ``expr`` with floats rounded to ``digits`` significant digits.

    ``sympy.simplify`` can take minutes on a long gplearn program; it gets ``timeout``
    seconds (enforced with SIGALRM in the main thread; elsewhere only expressions of at
    most 40 operations are simplified) and the expression stays as it is otherwise.
    Positive feature symbols already fold ``Abs(n)`` into ``n`` when the expression is built.
    """
    import signal
    import threading

    import sympy

    class _Timeout(Exception):
        pass

    def handler(signum, frame):
        raise _Timeout

    out = expr
    main = threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")
    if main or sympy.count_ops(expr) <= 40:
        old = signal.signal(signal.SIGALRM, handler) if main else None
        try:
            if main:
                signal.setitimer(signal.ITIMER_REAL, timeout)
            out = sympy.simplify(expr)
        except _Timeout:
            out = expr
        except Exception:  # sympy can fail on odd nested forms: keep the unsimplified one
            out = expr
        finally:
            if main:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
    if sympy.count_ops(out) > sympy.count_ops(expr):
        out = expr
    return out.xreplace({f: sympy.Float(f, digits) for f in out.atoms(sympy.Float)})


def sqrt_factors(expr, feature_names):
    """Feature name -> True if the feature occurs under a square root in ``expr``."""
    import sympy

    out = {}
    for name, sym in zip(feature_names, _symbols(feature_names), strict=True):
        found = False
        for p in expr.atoms(sympy.Pow):
            e = p.exp
            if e.is_Rational and e.q == 2 and p.base.has(sym):
                found = True
                break
        out[name] = found
    return out


def _scores(y_true, y_pred):
    from sklearn.metrics import mean_squared_error, r2_score

    y_pred = np.asarray(y_pred, dtype=np.float64)
    if not np.all(np.isfinite(y_pred)):
        return float("nan"), float("inf")
    return float(r2_score(y_true, y_pred)), float(mean_squared_error(y_true, y_pred))


def fit_symbolic(
    X,
    y,
    feature_names,
    train_idx,
    test_idx,
    seeds=(0, 1, 2),
    population_size=1000,
    generations=15,
    parsimony_coefficient=None,
    function_set=FUNCTION_SET,
    metric="rmse",
    tournament_size=10,
    init_depth=(2, 4),
    n_jobs=1,
):
    """gplearn symbolic regression, one run per seed; the run with the best *training* fitness wins.

    Args:
        X, y: features ``[rows, k]`` and target ``[rows]``.
        feature_names: names for the k features (sympy symbols, assumed positive).
        train_idx, test_idx: row indices (see :func:`holdout_split`); held-out rows only score.
        seeds: one gplearn run per seed.
        parsimony_coefficient: length penalty; default ``1e-3 * std(y_train)`` so the same
            setting suits any target scale (fitness is RMSE).
        function_set: gplearn functions (default add, sub, mul, div, sqrt, log).

    Returns:
        :class:`Fit` of the winning run; ``details["runs"]`` lists every seed's program,
        training fitness and held-out R^2.
    """
    import warnings

    from gplearn.genetic import SymbolicRegressor

    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ConfigError(
            "--features", f"X has {X.shape[1] if X.ndim == 2 else '?'} columns for {len(feature_names)} names"
        )
    unknown = set(function_set) - {
        "add",
        "sub",
        "mul",
        "div",
        "sqrt",
        "log",
        "neg",
        "inv",
        "abs",
        "max",
        "min",
        "sin",
        "cos",
        "tan",
    }
    if unknown:
        raise ConfigError("--function_set", f"unknown gplearn function {sorted(unknown)[0]!r}")
    if not seeds:
        raise ConfigError("--seeds", "give at least one seed")
    p = parsimony_coefficient if parsimony_coefficient is not None else 1e-3 * float(np.std(y[train_idx]))
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:
        est = SymbolicRegressor(
            population_size=population_size,
            generations=generations,
            function_set=tuple(function_set),
            metric=metric,
            parsimony_coefficient=p,
            tournament_size=min(tournament_size, population_size),
            init_depth=tuple(init_depth),
            p_crossover=0.7,
            p_subtree_mutation=0.1,
            p_hoist_mutation=0.05,
            p_point_mutation=0.1,
            random_state=int(seed),
            n_jobs=n_jobs,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in candidate programs
            est.fit(X[train_idx], y[train_idx])
            pred_test = est.predict(X[test_idx])
        r2_test, _ = _scores(y[test_idx], pred_test)
        runs.append({"seed": int(seed), "est": est, "fitness": float(est._program.raw_fitness_), "r2_test": r2_test})
    best = min(runs, key=lambda r: r["fitness"])
    est = best["est"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pred_train, pred_test = est.predict(X[train_idx]), est.predict(X[test_idx])
    raw = program_to_sympy(est._program, feature_names)
    expr = simplify(raw)
    r2_tr, mse_tr = _scores(y[train_idx], pred_train)
    r2_te, mse_te = _scores(y[test_idx], pred_test)
    return Fit(
        method="symbolic",
        kind="symbolic",
        expression=str(expr),
        template=str(est._program),
        r2_train=r2_tr,
        r2_test=r2_te,
        mse_train=mse_tr,
        mse_test=mse_te,
        seconds=time.perf_counter() - t0,
        sqrt_factors=sqrt_factors(expr, feature_names),
        details={
            "seed": best["seed"],
            "length": int(est._program.length_),
            "parsimony_coefficient": p,
            "population_size": population_size,
            "generations": generations,
            "function_set": list(function_set),
            "metric": metric,
            "runs": [
                {
                    "seed": r["seed"],
                    "train_fitness": r["fitness"],
                    "r2_test": r["r2_test"],
                    "program": str(r["est"]._program),
                }
                for r in runs
            ],
        },
        predictions_test=[float(v) for v in pred_test],
    )


def form_expression(form, feature_names):
    """``(name, sympy expression, coefficient symbols)`` for a built-in form or ``name=expr``."""
    import sympy

    syms = _symbols(feature_names)
    if "=" in form:
        name, text = (s.strip() for s in form.split("=", 1))
        if not name.isidentifier():
            raise ConfigError("--form", f"a form is written name=expression; {name!r} is not a name")
        from sympy.parsing.sympy_parser import parse_expr

        local = {_safe_name(n): s for n, s in zip(feature_names, syms, strict=True)}
        try:
            expr = parse_expr(text, local_dict=local)
        except Exception as e:
            raise ConfigError("--form", f"cannot parse {text!r}: {e}") from e
        coefs = sorted((s for s in expr.free_symbols if s not in syms), key=lambda s: s.name)
        if not coefs:
            raise ConfigError("--form", f"{text!r} has no coefficient to fit (every symbol is a feature)")
        return name, expr, coefs
    if form not in BUILTIN_FORMS:
        raise ConfigError("--forms", f"unknown form {form!r}; choose from {', '.join(BUILTIN_FORMS)} or give name=expr")
    used = syms[:2] if form == "maurer" else syms
    if len(used) > len(_COEF_NAMES) - 1:
        raise ConfigError("--features", f"at most {len(_COEF_NAMES) - 1} features for a built-in form")
    coefs = [sympy.Symbol(c) for c in _COEF_NAMES[: len(used) + 1]]
    basis = {"maurer": lambda s: 1 / sympy.sqrt(s), "sqrt_sum": sympy.sqrt, "log": sympy.log}[form]
    expr = coefs[0] + sum(c * basis(s) for c, s in zip(coefs[1:], used, strict=True))
    return form, expr, coefs


def fit_parametric(X, y, feature_names, form, train_idx, test_idx):
    """Least-squares fit of a named form (see module doc) on the training rows; scored on held-out rows.

    A form linear in its coefficients is solved exactly (``numpy.linalg.lstsq``);
    otherwise ``scipy.optimize.least_squares`` starts from all coefficients = 1.
    A form that is undefined on the data (``log`` or ``1/sqrt`` of a feature <= 0) is
    returned with ``details["skipped"]`` saying why.
    """
    import sympy

    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    name, expr, coefs = form_expression(form, feature_names)
    syms = _symbols(feature_names)
    t0 = time.perf_counter()
    template = str(expr)
    cols = [X[:, i] for i in range(X.shape[1])]
    fit = Fit(method=name, kind="parametric", expression="", template=template)
    linear = all(not sympy.diff(expr, c).free_symbols & set(coefs) for c in coefs)
    with np.errstate(all="ignore"):
        if linear:
            zero = {c: 0 for c in coefs}
            offset = np.broadcast_to(sympy.lambdify(syms, expr.subs(zero), "numpy")(*cols), y.shape).astype(float)
            basis = np.stack(
                [np.broadcast_to(sympy.lambdify(syms, sympy.diff(expr, c), "numpy")(*cols), y.shape) for c in coefs], 1
            ).astype(float)
            if not (np.isfinite(basis).all() and np.isfinite(offset).all()):
                fit.details["skipped"] = "the form is undefined on some rows (a feature <= 0 under log or 1/sqrt)"
                return fit
            sol, *_ = np.linalg.lstsq(basis[train_idx], y[train_idx] - offset[train_idx], rcond=None)
            pred = offset + basis @ sol
        else:
            from scipy.optimize import least_squares

            f = sympy.lambdify([*syms, *coefs], expr, "numpy")

            def resid(theta, idx):
                return np.broadcast_to(f(*[c[idx] for c in cols], *theta), idx.shape) - y[idx]

            res = least_squares(resid, np.ones(len(coefs)), args=(train_idx,))
            sol = res.x
            pred = np.broadcast_to(f(*cols, *sol), y.shape)
            if not np.isfinite(pred).all():
                fit.details["skipped"] = "the fitted form is undefined on some rows"
                return fit
    values = {c: float(v) for c, v in zip(coefs, sol, strict=True)}
    fitted = expr.xreplace({c: sympy.Float(v, 4) for c, v in values.items()})
    fit.expression = str(fitted)
    fit.coefficients = {c.name: v for c, v in values.items()}
    fit.r2_train, fit.mse_train = _scores(y[train_idx], pred[train_idx])
    fit.r2_test, fit.mse_test = _scores(y[test_idx], pred[test_idx])
    fit.sqrt_factors = sqrt_factors(expr, feature_names)
    fit.seconds = time.perf_counter() - t0
    fit.predictions_test = [float(v) for v in pred[test_idx]]
    return fit


def fit_formulas(X, y, feature_names, forms=BUILTIN_FORMS, symbolic=True, test_fraction=0.25, split_seed=0, **sr):
    """Symbolic regression and every parametric form on one held-out split.

    Returns ``{"fits": [Fit, ...], "y_test": [...], "n_train", "n_test", "features"}``;
    ``sr`` goes to :func:`fit_symbolic`.
    """
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    train_idx, test_idx = holdout_split(len(y), test_fraction, split_seed)
    fits = []
    if symbolic:
        fits.append(fit_symbolic(X, y, feature_names, train_idx, test_idx, **sr))
    for form in forms:
        fits.append(fit_parametric(X, y, feature_names, form, train_idx, test_idx))
    return {
        "fits": fits,
        "features": list(feature_names),
        "y_test": [float(v) for v in y[test_idx]],
        "n_train": int(len(train_idx)),
        "n_test": int(len(test_idx)),
        "test_fraction": test_fraction,
        "split_seed": split_seed,
    }


def plot_predicted_vs_measured(fit, y_test, path, target="target"):
    """Scatter of predicted vs measured held-out values with the identity line; writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=110)
    y = np.asarray(y_test)
    p = np.asarray(fit.predictions_test)
    ax.scatter(y, p, s=9, alpha=0.6, edgecolors="none")
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, ls="--")
    ax.set_xlabel(f"measured {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(f"{fit.method}: held-out R$^2$ = {fit.r2_test:.3f}", fontsize=10)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


def _md_escape(s):
    return s.replace("|", "\\|")


def report_markdown(report, target, csv_path=None):
    """The fits as a Markdown table (method, formula, held-out R^2 / MSE, sqrt factors)."""
    feats = report["features"]
    lines = [
        f"Target `{target}` from features {', '.join(f'`{f}`' for f in feats)}"
        + (f" of `{csv_path}`" if csv_path else "")
        + f"; {report['n_train']} training rows, {report['n_test']} held-out rows "
        f"(split seed {report['split_seed']}).",
        "",
        "| method | formula | R² held-out | MSE held-out | R² train | sqrt factors |",
        "|---|---|---|---|---|---|",
    ]
    for f in report["fits"]:
        if f.details.get("skipped"):
            lines.append(f"| {f.method} | `{_md_escape(f.template)}` | skipped: {f.details['skipped']} | | | |")
            continue
        sq = ", ".join(k for k, v in f.sqrt_factors.items() if v) or "none"
        lines.append(
            f"| {f.method} | `{_md_escape(f.expression)}` | {f.r2_test:.3f} | {f.mse_test:.3g} | {f.r2_train:.3f} | {sq} |"
        )
    sym = next((f for f in report["fits"] if f.kind == "symbolic"), None)
    if sym is not None:
        lines += ["", "Symbolic regression runs (the best training fitness wins):", ""]
        for r in sym.details["runs"]:
            lines.append(
                f"- seed {r['seed']}: train fitness {r['train_fitness']:.4g}, held-out R² {r['r2_test']:.3f}, "
                f"program `{_md_escape(r['program'])}`"
            )
    return "\n".join(lines) + "\n"


def write_report(report, workdir, target, csv_path=None):
    """Writes ``formulas.json``, ``formulas.md`` and ``pred_vs_measured_<method>.png`` to ``workdir``."""
    os.makedirs(workdir, exist_ok=True)
    paths = {}
    for f in report["fits"]:
        if f.details.get("skipped"):
            continue
        paths[f.method] = plot_predicted_vs_measured(
            f, report["y_test"], os.path.join(workdir, f"pred_vs_measured_{f.method}.png"), target
        )
    data = {**report, "fits": [f.to_dict() for f in report["fits"]], "target": target, "csv": csv_path, "plots": paths}

    write_json(data, os.path.join(workdir, "formulas.json"), nan_to_null=True)
    write_text(report_markdown(report, target, csv_path), os.path.join(workdir, "formulas.md"))
    return {"json": os.path.join(workdir, "formulas.json"), "markdown": os.path.join(workdir, "formulas.md"), **paths}
