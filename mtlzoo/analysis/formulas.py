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

Symbolic regression (:mod:`mtlzoo.analysis.formula_search`) restarts gplearn with linear
scaling, selects on a validation split of the training rows, and scores the printed
(simplified, rounded) formula itself. Every fit is scored on held-out rows (R^2 and MSE), simplified with sympy, and checked
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

import math
import os
import time

import numpy as np

from mtlzoo.analysis.formula_search import (  # noqa: F401  (re-exported: public names of this module)
    FUNCTION_SET,
    Fit,
    evaluate,
    feature_symbols,
    fit_symbolic,
    parse_form,
    program_to_sympy,
    safe_name,
    search_stability,
    simplify,
    sqrt_factors,
)
from mtlzoo.analysis.formula_search import scores as _scores
from mtlzoo.errors import ConfigError
from mtlzoo.fileio import atomic_path, write_json, write_text

BUILTIN_FORMS = ("maurer", "sqrt_sum", "log")
_COEF_NAMES = "abcdefghkmpqrsuvwz"


def load_csv(path, target, features):
    """Reads ``features`` and ``target`` columns of a CSV as floats.

    UTF-8 (a leading byte-order mark is accepted), a header line, comma-separated. A row whose
    used cell is empty or not finite (``nan``, ``inf``) is dropped as a missing measurement;
    blank lines are skipped. Returns ``(X [rows, len(features)], y [rows])``.

    Raises:
        ConfigError: naming the flag (``--csv``, ``--target``, ``--features``) for a missing file,
            an empty file, a missing column; and naming the file, the line and the column for a
            cell that is not a number, a row with the wrong number of cells, or bytes that are
            not UTF-8.
    """
    import csv
    import io

    if not os.path.isfile(path):
        raise ConfigError("--csv", f"file {path} does not exist")
    if not features:
        raise ConfigError("--features", "give at least one feature column")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError("--csv", f"{path} line {line}: not UTF-8 text; save the file as UTF-8") from None
    if not text.strip():
        raise ConfigError("--csv", f"{path} is empty; it needs a header line and rows")
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in next(reader)]
    for flag, names in (("--target", [target]), ("--features", features)):
        for name in names:
            if name not in columns:
                raise ConfigError(flag, f"column {name!r} is not in {path}; it has {', '.join(columns)}")
    used = [*features, target]
    index = [columns.index(c) for c in used]
    rows = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path} line {reader.line_num}"
        if len(row) != len(columns):
            raise ConfigError("--csv", f"{where}: {len(row)} cells, the header has {len(columns)}")
        values = []
        for name, i in zip(used, index, strict=True):
            cell = row[i].strip()
            try:
                values.append(float(cell) if cell else math.nan)
            except ValueError:
                raise ConfigError("--csv", f"{where} column {name!r}: {cell!r} is not a number") from None
        rows.append(values)
    if not rows:
        raise ConfigError("--csv", f"{path} has no rows")
    data = np.array(rows, dtype=np.float64)
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


def form_expression(form, feature_names):
    """``(name, sympy expression, coefficient symbols)`` for a built-in form or ``name=expr``."""
    import sympy

    syms = feature_symbols(feature_names)
    if "=" in form:
        name, text = (s.strip() for s in form.split("=", 1))
        if not name.isidentifier():
            raise ConfigError("--form", f"a form is written name=expression; {name!r} is not a name")
        expr = parse_form(text, feature_names)
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
    syms = feature_symbols(feature_names)
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
    pred = evaluate(fitted, feature_names, X)  # score the printed (rounded) formula itself
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
        lines += [
            "",
            f"Symbolic regression restarts ({sym.details['n_fit']} fit rows, {sym.details['n_validation']} "
            "validation rows; the printed formula with the best validation R² wins; every R² is that of the "
            "printed formula):",
            "",
        ]
        for r in sym.details["runs"]:
            sq = ", ".join(k for k, v in r["sqrt_factors"].items() if v) or "none"
            lines.append(
                f"- seed {r['seed']}: validation R² {r['r2_validation']:.3f}, held-out R² {r['r2_test']:.3f}, "
                f"sqrt factors: {sq}; `{_md_escape(r['expression'])}`"
            )
    return "\n".join(lines) + "\n"


def stability_markdown(rows, feature_names):
    """Markdown table of :func:`search_stability` rows plus the count of all-sqrt formulas and the R^2 spread."""
    r2 = np.array([r["r2_test"] for r in rows], dtype=float)
    lines = [
        "| outer seed | held-out R² | validation R² | sqrt factors | formula |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        sq = ", ".join(k for k, v in r["sqrt_factors"].items() if v) or "none"
        lines.append(
            f"| {r['outer_seed']} | {r['r2_test']:.3f} | {r['r2_validation']:.3f} | {sq} | "
            f"`{_md_escape(r['expression'])}` |"
        )
    each = ", ".join(f"{f} {sum(r['sqrt_factors'][f] for r in rows)}/{len(rows)}" for f in feature_names)
    lines += [
        "",
        f"All features under a square root in {sum(r['all_sqrt'] for r in rows)} of {len(rows)} searches "
        f"(per feature: {each}); held-out R² {np.nanmean(r2):.3f} ± {np.nanstd(r2):.3f} "
        f"(min {np.nanmin(r2):.3f}, max {np.nanmax(r2):.3f}).",
    ]
    return "\n".join(lines) + "\n"


def plot_stability(rows, path, extra=None):
    """PNG: held-out R^2 of each search (x: outer seed), filled where every feature is under a sqrt.

    ``extra``: optional ``{label: [rows with seed, r2_test, all_sqrt]}`` of other methods drawn beside.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {"gplearn (restarts, validation)": [(r["outer_seed"], r["r2_test"], r["all_sqrt"]) for r in rows]}
    for label, more in (extra or {}).items():
        series[label] = [(r["seed"], r["r2_test"], r["all_sqrt"]) for r in more]
    fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=110)
    width = 0.8 / len(series)
    for j, (label, pts) in enumerate(series.items()):
        color = f"C{j}"
        for k, (_seed, r2, sq) in enumerate(pts):
            ax.bar(
                k + j * width,
                r2,
                width=width,
                color=color if sq else "white",
                edgecolor=color,
                label=label if k == 0 else None,
            )
    ax.set_xticks(np.arange(max(len(p) for p in series.values())) + 0.4 - width / 2)
    ax.set_xticklabels([str(s) for s, _, _ in next(iter(series.values()))])
    ax.set_xlabel("seed (filled: sqrt of every feature in the formula)")
    ax.set_ylabel("held-out R²")
    lo = min(r2 for p in series.values() for _, r2, _ in p if np.isfinite(r2))
    ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path


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
