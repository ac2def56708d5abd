"""Stable symbolic regression of performance formulas, printed exactly as scored.

After Bettgenhaeuser, Hedderich & Klakow (2020), "Learning Functions to Study the Benefit
of Multitask Learning" (arXiv 2006.05561), Sec. 4 (gplearn symbolic regression of
main-task F1 over n, T and AMI). One search (:func:`fit_symbolic`) is:

1. the training rows are split again into *fit* and *validation* rows (seeded);
2. one gplearn run per restart seed on the fit rows, with function set add, sub, mul,
   div, sqrt, log and **linear scaling** (Keijzer 2003, "Improving symbolic regression
   with interval arithmetic and linear scaling", EuroGP): the fitness of a program f is
   the RMSE of ``a + b*f`` with (a, b) the least-squares fit on the fit rows, so the
   search looks for the *shape* of the formula and not for its scale and offset;
3. every run's program becomes a sympy expression with gplearn's protected operators
   written as what they compute (:func:`program_to_sympy`), times b plus a, simplified
   with sympy and rounded to ``digits`` significant digits;
4. that printed expression itself is evaluated with numpy (``sympy.lambdify``) and
   scored; the run with the best **validation** R^2 wins; held-out rows only score.

So the reported R^2 (fit, validation, held-out) is that of the printed formula, never of
the gplearn program behind it. Protected operators are exact on the rows of the data:
gplearn's ``div(a, b)`` is ``a/b`` where ``|b| > 0.001`` and 1 elsewhere; where the
protection fires on none of the data's rows the plain ``a/b`` is printed, where it fires
on all of them the constant, otherwise ``Piecewise((a/b, Abs(b) > 0.001), (1, True))``
(likewise ``log`` -> ``log(|a|)`` or 0, ``sqrt`` -> ``sqrt(|a|)``, ``inv``).

:func:`parse_form` reads a user's formula text without ``eval``: Python's ``ast`` parses
it and only numbers, names, ``+ - * / **`` and the calls ``sqrt log exp abs`` are kept.
"""

import ast
import dataclasses
import time

import numpy as np

from mtlzoo.errors import ConfigError

FUNCTION_SET = ("add", "sub", "mul", "div", "sqrt", "log")
GPLEARN_FUNCTIONS = ("add", "sub", "mul", "div", "sqrt", "log", "neg", "inv", "abs", "max", "min", "sin", "cos", "tan")
PROTECT = 0.001  # gplearn's threshold for div, log and inv


@dataclasses.dataclass
class Fit:
    """One fitted formula and its scores.

    ``expression`` is the printed formula (sympy text, constants rounded to 4 significant
    digits) and every score is that of the printed formula; ``coefficients`` the fitted
    constants of a parametric form; ``sqrt_factors`` maps each feature to True where it
    occurs under a square root (``x**(1/2)``, ``x**(-1/2)``, ``sqrt(... x ...)``).
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


def safe_name(name):
    return name if name.isidentifier() else "".join(c if c.isalnum() else "_" for c in name)


def feature_symbols(feature_names):
    import sympy

    return [sympy.Symbol(safe_name(n), positive=True) for n in feature_names]


def scores(y_true, y_pred):
    """(R^2, MSE) of predictions; (nan, inf) when a prediction is not finite."""
    from sklearn.metrics import mean_squared_error, r2_score

    y_pred = np.broadcast_to(np.asarray(y_pred, dtype=np.float64), np.shape(y_true))
    if not np.all(np.isfinite(y_pred)):
        return float("nan"), float("inf")
    return float(r2_score(y_true, y_pred)), float(mean_squared_error(y_true, y_pred))


_CALLS = {"sqrt": "sqrt", "log": "log", "exp": "exp", "abs": "Abs"}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def parse_form(text, feature_names, flag="--form"):
    """Formula text -> sympy expression, without evaluating any Python.

    Allowed: numbers, names (feature names become positive feature symbols, any other
    name a coefficient symbol), ``+ - * / **``, unary ``-``/``+``, and calls of ``sqrt``,
    ``log``, ``exp``, ``abs`` with one argument. Anything else (attribute access, other
    calls, subscripts, strings, names starting with ``_``, exponents above 64 in size)
    raises ConfigError naming ``flag`` and the refused construct.
    """
    import sympy

    if len(text) > 2000:
        raise ConfigError(flag, f"the formula has {len(text)} characters; at most 2000 are read")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ConfigError(flag, f"cannot parse {text!r}: {e.msg}") from None
    feats = {safe_name(n): s for n, s in zip(feature_names, feature_symbols(feature_names), strict=True)}

    def refuse(what):
        raise ConfigError(
            flag, f"{what} is not allowed in {text!r}; use numbers, names, + - * / ** and sqrt/log/exp/abs"
        )

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return sympy.Float(node.value) if isinstance(node.value, float) else sympy.Integer(node.value)
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                refuse(f"the name {node.id!r}")
            return feats.get(node.id) or sympy.Symbol(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = walk(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            a, b = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow):
                if b.is_number and abs(float(b)) > 64:
                    refuse(f"the exponent {b}")
                return a**b
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[_BINOPS[type(node.op)]]
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                refuse("a call of " + ("an attribute" if isinstance(node.func, ast.Attribute) else "an expression"))
            if node.func.id not in _CALLS:
                refuse(f"the function {node.func.id!r}")
            if node.keywords or len(node.args) != 1:
                refuse(f"{node.func.id} with other than one positional argument")
            return getattr(sympy, _CALLS[node.func.id])(walk(node.args[0]))
        if isinstance(node, ast.Attribute):
            refuse("attribute access")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
            refuse("'^' (write powers as **)")
        refuse(f"a {type(node).__name__} node")

    return walk(tree)


def program_to_sympy(program, feature_names, X):
    """A gplearn program (``est._program``) as a sympy expression over positive feature symbols.

    Protected operators are written as what gplearn computes on the data ``X [rows, k]``
    (module docstring): a protection that fires on none (or all) of the rows is written as
    the plain (or the fallback) branch, one that fires on some as a Piecewise, so the
    expression equals ``program.execute(X)`` on those rows. (Without data a Piecewise
    divided by a Piecewise with a 0 branch makes sympy write ``zoo``, which numpy cannot
    evaluate; hence ``X`` is required.)
    """
    import sympy

    syms = feature_symbols(feature_names)
    pa = sympy.Abs
    nodes = list(program.program)
    pos = 0
    rows = np.asarray(X, np.float64)
    if rows.ndim != 2 or rows.shape[1] < len(feature_names):
        raise ValueError(f"X must be [rows, {len(feature_names)}], got shape {rows.shape}")

    def choose(mask_ok, plain, fallback, guarded):
        # mask_ok: where the plain branch applies, or None (no data: keep the Piecewise)
        if mask_ok is not None and mask_ok.all():
            return plain
        if (mask_ok is not None and not mask_ok.any()) or guarded == 0:
            return fallback  # the second case: a denominator or log argument that is identically 0
        cond = pa(guarded) > PROTECT
        return sympy.Piecewise((plain, cond), (fallback, True))

    def op(name, args):
        (a, va), *rest = args
        b, vb = rest[0] if rest else (None, None)
        with np.errstate(all="ignore"):
            if name == "add":
                return a + b, None if va is None else va + vb
            if name == "sub":
                return a - b, None if va is None else va - vb
            if name == "mul":
                return a * b, None if va is None else va * vb
            if name == "div":
                ok = None if vb is None else np.abs(vb) > PROTECT
                v = None if va is None else np.where(ok, va / vb, 1.0)
                return choose(ok, a / b, sympy.Integer(1), b), v
            if name == "log":
                ok = None if va is None else np.abs(va) > PROTECT
                inner = a if va is not None and (va > 0).all() else pa(a)
                v = None if va is None else np.where(ok, np.log(np.abs(va)), 0.0)
                return choose(ok, sympy.log(inner), sympy.Integer(0), a), v
            if name == "inv":
                ok = None if va is None else np.abs(va) > PROTECT
                v = None if va is None else np.where(ok, 1 / va, 0.0)
                return choose(ok, 1 / a, sympy.Integer(0), a), v
            if name == "sqrt":
                inner = a if va is not None and (va >= 0).all() else pa(a)
                return sympy.sqrt(inner), None if va is None else np.sqrt(np.abs(va))
            if name == "neg":
                return -a, None if va is None else -va
            if name == "abs":
                return pa(a), None if va is None else np.abs(va)
            if name in ("max", "min"):
                f = sympy.Max if name == "max" else sympy.Min
                return f(a, b), None if va is None else (np.maximum if name == "max" else np.minimum)(va, vb)
            if name in ("sin", "cos", "tan"):
                return getattr(sympy, name)(a), None if va is None else getattr(np, name)(va)
        raise ConfigError("--function_set", f"gplearn function {name!r} has no exact sympy form here")

    def build():
        nonlocal pos
        node = nodes[pos]
        pos += 1
        if hasattr(node, "arity"):
            return op(node.name, [build() for _ in range(node.arity)])
        if isinstance(node, (int, np.integer)):
            return syms[int(node)], None if rows is None else rows[:, int(node)]
        return sympy.Float(float(node)), None if rows is None else np.full(len(rows), float(node))

    return build()[0]


def simplify(expr, digits=4, timeout=20.0):
    """sympy-simplified ``expr`` with floats rounded to ``digits`` significant digits.

    ``sympy.simplify`` gets ``timeout`` seconds (SIGALRM in the main thread; elsewhere only
    expressions of at most 40 operations are simplified); the expression stays as it is
    when simplification fails, times out or makes it longer.
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
        except Exception:  # _Timeout, or sympy failing on an odd nested form
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
    for name, sym in zip(feature_names, feature_symbols(feature_names), strict=True):
        out[name] = any(p.exp.is_Rational and p.exp.q == 2 and p.base.has(sym) for p in expr.atoms(sympy.Pow))
    return out


def evaluate(expr, feature_names, X):
    """The sympy expression evaluated with numpy on the rows of ``X`` (``[rows]`` float64)."""
    import sympy

    f = sympy.lambdify(feature_symbols(feature_names), expr, "numpy")
    with np.errstate(all="ignore"):
        out = f(*[np.asarray(X, np.float64)[:, i] for i in range(len(feature_names))])
    return np.broadcast_to(np.asarray(out, np.float64), (len(X),)).copy()


def _scaled_rmse(y, p, w):
    """RMSE of ``a + b*p`` with (a, b) the weighted least-squares fit (linear scaling)."""
    w = np.ones_like(y) if w is None else w
    if not np.all(np.isfinite(p)):
        return 1e10
    mp, my = np.average(p, weights=w), np.average(y, weights=w)
    var = np.average((p - mp) ** 2, weights=w)
    b = np.average((p - mp) * (y - my), weights=w) / var if var > 1e-300 else 0.0
    return float(np.sqrt(np.average((y - my - b * (p - mp)) ** 2, weights=w)))


def _scaling(y, p):
    mp, my = p.mean(), y.mean()
    var = ((p - mp) ** 2).mean()
    b = ((p - mp) * (y - my)).mean() / var if var > 1e-300 else 0.0
    return my - b * mp, b


def fit_symbolic(
    X,
    y,
    feature_names,
    train_idx,
    test_idx,
    seeds=(0, 1, 2, 3),
    population_size=1000,
    generations=15,
    parsimony_coefficient=None,
    function_set=FUNCTION_SET,
    validation_fraction=0.25,
    validation_seed=None,
    linear_scaling=True,
    const_range=(-1.0, 1.0),
    tournament_size=20,
    init_depth=(2, 4),
    digits=4,
    n_jobs=1,
    progress=None,
):
    """Restarted gplearn search; the printed formula with the best validation R^2 wins.

    Args:
        X, y: features ``[rows, k]`` (assumed positive: sympy symbols) and target ``[rows]``.
        train_idx, test_idx: row indices (see ``holdout_split``); held-out rows only score.
        seeds: one gplearn restart per seed, each on the fit rows.
        parsimony_coefficient: length penalty; default ``1e-3 * std(y_train)``.
        validation_fraction: share of the training rows kept out of every run to select
            the winner (seeded by ``validation_seed``, default the first restart seed).
        linear_scaling: fitness is the RMSE of ``a + b*f`` (module docstring); the printed
            formula includes a and b.
        const_range: gplearn's range of random constants (None: no constants).
        progress: ``progress("start", what)`` before and ``progress("done", what, status)`` after
            each restart (e.g. :class:`mtlzoo.studies.common.Progress` lines), or None.
        digits: significant digits of the printed constants.

    Returns:
        :class:`Fit`: ``r2_train``/``mse_train`` on all training rows, ``r2_test`` on the
        held-out rows, ``details["r2_validation"]``; ``details["runs"]`` lists every restart
        (seed, printed formula, fit/validation/held-out R^2, sqrt factors).
    """
    import warnings

    from gplearn.fitness import make_fitness
    from gplearn.genetic import SymbolicRegressor

    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ConfigError(
            "--features", f"X has {X.shape[1] if X.ndim == 2 else '?'} columns for {len(feature_names)} names"
        )
    unknown = set(function_set) - set(GPLEARN_FUNCTIONS)
    if unknown:
        raise ConfigError("--function_set", f"unknown gplearn function {sorted(unknown)[0]!r}")
    if not seeds:
        raise ConfigError("--seeds", "give at least one seed")
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    if not 0 < validation_fraction < 1:
        raise ConfigError("--validation_fraction", f"must be in (0, 1), got {validation_fraction}")
    order = np.random.default_rng(int(seeds[0] if validation_seed is None else validation_seed)).permutation(
        len(train_idx)
    )
    n_val = max(1, int(round(validation_fraction * len(train_idx))))
    if len(train_idx) - n_val < 4:
        raise ConfigError("--validation_fraction", f"leaves {len(train_idx) - n_val} fit rows")
    val_idx, fit_idx = np.sort(train_idx[order[:n_val]]), np.sort(train_idx[order[n_val:]])
    p = parsimony_coefficient if parsimony_coefficient is not None else 1e-3 * float(np.std(y[train_idx]))
    metric = make_fitness(function=_scaled_rmse, greater_is_better=False) if linear_scaling else "rmse"
    t0 = time.perf_counter()
    runs = []
    for seed in seeds:
        what, t_run = (
            f"gplearn restart seed {seed} ({generations} generations x {population_size})",
            time.perf_counter(),
        )
        if progress is not None:
            progress("start", what)
        est = SymbolicRegressor(
            population_size=population_size,
            generations=generations,
            function_set=tuple(function_set),
            metric=metric,
            parsimony_coefficient=p,
            const_range=None if const_range is None else tuple(const_range),
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
            est.fit(X[fit_idx], y[fit_idx])
            raw_fit = est._program.execute(X[fit_idx])
        program = program_to_sympy(est._program, feature_names, X)
        a, b = _scaling(y[fit_idx], raw_fit) if linear_scaling else (0.0, 1.0)
        import sympy

        expr = simplify(sympy.Float(a) + sympy.Float(b) * program if linear_scaling else program, digits)
        pred = evaluate(expr, feature_names, X)  # the printed formula itself is what is scored
        run = {
            "seed": int(seed),
            "expr": expr,
            "pred": pred,
            "expression": str(expr),
            "program": str(est._program),
            "length": int(est._program.length_),
            "r2_fit": scores(y[fit_idx], pred[fit_idx])[0],
            "r2_validation": scores(y[val_idx], pred[val_idx])[0],
            "r2_test": scores(y[test_idx], pred[test_idx])[0],
            "sqrt_factors": sqrt_factors(expr, feature_names),
        }
        runs.append(run)
        if progress is not None:
            progress(
                "done",
                what,
                f"validation R^2 {run['r2_validation']:.4f} in {time.perf_counter() - t_run:.1f} s: {run['expression']}",
            )
    best = max(runs, key=lambda r: r["r2_validation"] if np.isfinite(r["r2_validation"]) else -np.inf)
    pred = best["pred"]
    r2_tr, mse_tr = scores(y[train_idx], pred[train_idx])
    r2_te, mse_te = scores(y[test_idx], pred[test_idx])
    return Fit(
        method="symbolic",
        kind="symbolic",
        expression=best["expression"],
        template=best["program"],
        r2_train=r2_tr,
        r2_test=r2_te,
        mse_train=mse_tr,
        mse_test=mse_te,
        seconds=time.perf_counter() - t0,
        sqrt_factors=best["sqrt_factors"],
        details={
            "seed": best["seed"],
            "length": best["length"],
            "r2_validation": best["r2_validation"],
            "n_fit": int(len(fit_idx)),
            "n_validation": int(len(val_idx)),
            "parsimony_coefficient": p,
            "population_size": population_size,
            "generations": generations,
            "function_set": list(function_set),
            "linear_scaling": bool(linear_scaling),
            "const_range": None if const_range is None else list(const_range),
            "selection": "validation R2 of the printed formula",
            "runs": [{k: v for k, v in r.items() if k not in ("expr", "pred")} for r in runs],
        },
        predictions_test=[float(v) for v in pred[test_idx]],
    )


def search_stability(X, y, feature_names, train_idx, test_idx, outer_seeds=(0, 1, 2, 3, 4), restarts=4, **sr):
    """:func:`fit_symbolic` once per outer seed s (restart seeds ``100*s + j``, validation split seeded by s).

    Returns a list of dicts: outer seed, printed formula, held-out/validation R^2,
    sqrt factors, and ``all_sqrt`` (every feature under a square root).
    """
    out = []
    for s in outer_seeds:
        fit = fit_symbolic(
            X,
            y,
            feature_names,
            train_idx,
            test_idx,
            seeds=[100 * int(s) + j for j in range(restarts)],
            validation_seed=int(s),
            **sr,
        )
        out.append(
            {
                "outer_seed": int(s),
                "expression": fit.expression,
                "r2_test": fit.r2_test,
                "r2_validation": fit.details["r2_validation"],
                "r2_train": fit.r2_train,
                "sqrt_factors": fit.sqrt_factors,
                "all_sqrt": all(fit.sqrt_factors.values()),
                "seconds": fit.seconds,
                "fit": fit,
            }
        )
    return out
