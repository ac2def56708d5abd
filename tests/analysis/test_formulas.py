"""Formula fitting: planted-formula recovery, gplearn -> sympy, parametric forms, reports."""

import json

import numpy as np
import pytest
import sympy

import mtlzoo.analysis.formulas as fm
from mtlzoo.errors import ConfigError


def planted(rows=400, seed=0):
    """y = 0.9 - 1/sqrt(n) - 0.5/sqrt(T) + N(0, 0.01^2); n log-uniform in 100..40000, T in 1..15."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(100), np.log(40_000), rows))
    T = rng.integers(1, 16, rows).astype(float)
    y = 0.9 - 1 / np.sqrt(n) - 0.5 / np.sqrt(T) + rng.normal(0, 0.01, rows)
    return np.c_[n, T], y


def test_parametric_maurer_form_recovers_the_planted_coefficients():
    X, y = planted()
    tr, te = fm.holdout_split(len(y), 0.25, 0)
    fit = fm.fit_parametric(X, y, ["n", "T"], "maurer", tr, te)
    assert fit.r2_test >= 0.95
    for k, want in {"a": 0.9, "b": -1.0, "c": -0.5}.items():
        assert fit.coefficients[k] == pytest.approx(want, rel=0.10), k
    assert fit.sqrt_factors == {"n": True, "T": True}
    assert fit.template == "a + b/sqrt(n) + c/sqrt(T)"


def planted_sqrt(rows=240, seed=0):
    """y = 0.1 + 0.004 sqrt(n) sqrt(AMI) + 0.05 sqrt(T) + N(0, 0.005^2), shaped like the simulator grid."""
    rng = np.random.default_rng(seed)
    n = np.exp(rng.uniform(np.log(100), np.log(5000), rows))
    T = rng.integers(1, 7, rows).astype(float)
    A = rng.uniform(0.05, 0.9, rows)
    y = 0.1 + 0.004 * np.sqrt(n) * np.sqrt(A) + 0.05 * np.sqrt(T) + rng.normal(0, 0.005, rows)
    return np.c_[n, T, A], y


@pytest.mark.slow
def test_symbolic_regression_recovers_a_planted_sqrt_formula_over_seeds():
    """Over 3 data/search seeds: held-out R^2 >= 0.95 every time, sqrt(n) and sqrt(AMI) found at least twice;
    the printed text, parsed back independently and evaluated with numpy, gives the reported predictions."""
    found = 0
    for s in range(3):
        X, y = planted_sqrt(seed=s)
        tr, te = fm.holdout_split(len(y), 0.25, s)
        fit = fm.fit_symbolic(
            X, y, ["n", "T", "AMI"], tr, te, seeds=[10 * s, 10 * s + 1], population_size=400, generations=10
        )
        assert fit.r2_test >= 0.95, fit.details["runs"]
        found += fit.sqrt_factors["n"] and fit.sqrt_factors["AMI"]
        n, T, A = sympy.symbols("n T AMI", positive=True)
        expr = sympy.sympify(fit.expression, locals={"n": n, "T": T, "AMI": A, "Piecewise": sympy.Piecewise})
        ours = np.broadcast_to(sympy.lambdify((n, T, A), expr, "numpy")(*X[te].T), (len(te),))
        np.testing.assert_allclose(ours, fit.predictions_test, rtol=1e-9, atol=1e-12)
        r2 = 1 - np.sum((y[te] - ours) ** 2) / np.sum((y[te] - y[te].mean()) ** 2)
        assert fit.r2_test == pytest.approx(r2, abs=1e-9)  # the printed formula is what is scored
    assert found >= 2


def test_selection_is_by_validation_r2_of_the_printed_formula():
    X, y = planted_sqrt(rows=120, seed=5)
    tr, te = fm.holdout_split(len(y), 0.25, 0)
    fit = fm.fit_symbolic(X, y, ["n", "T", "AMI"], tr, te, seeds=[0, 1, 2], population_size=60, generations=3)
    runs = fit.details["runs"]
    assert fit.details["r2_validation"] == max(r["r2_validation"] for r in runs)
    assert fit.expression == max(runs, key=lambda r: r["r2_validation"])["expression"]
    assert fit.details["n_fit"] + fit.details["n_validation"] == len(tr)


def _protected(a, b):
    """gplearn's protected division, written out here: a/b where |b| > 0.001, else 1."""
    with np.errstate(all="ignore"):
        return np.where(np.abs(b) > 0.001, a / b, 1.0)


def test_protected_operators_printed_as_what_they_compute():
    # div(X0, sub(X1, 2.0)): the denominator is 0 on the rows with T = 2
    prog = _Prog([_F("div", 2), 0, _F("sub", 2), 1, 2.0])
    X = np.c_[np.arange(1.0, 9.0), np.array([1, 2, 3, 2, 5, 2, 7, 8.0])]
    want = _protected(X[:, 0], X[:, 1] - 2.0)
    expr = fm.program_to_sympy(prog, ["n", "T"], X)
    assert expr.has(sympy.Piecewise)
    np.testing.assert_allclose(fm.evaluate(expr, ["n", "T"], X), want)
    assert fm.evaluate(expr, ["n", "T"], X)[1] == 1.0  # the fallback branch, as gplearn
    # where the protection never fires on the data the plain form is printed
    Xok = X[X[:, 1] != 2]
    expr = fm.program_to_sympy(prog, ["n", "T"], Xok)
    assert not expr.has(sympy.Piecewise) and str(expr) == "n/(T - 2.0)"
    # log of a possibly negative value: log(|x|) (0 where |x| <= 0.001); sqrt(|x|)
    prog = _Prog([_F("add", 2), _F("log", 1), _F("sub", 2), 1, 3.0, _F("sqrt", 1), _F("sub", 2), 0, 4.0])
    with np.errstate(all="ignore"):
        d = X[:, 1] - 3.0
        want = np.where(np.abs(d) > 0.001, np.log(np.abs(d)), 0.0) + np.sqrt(np.abs(X[:, 0] - 4.0))
    np.testing.assert_allclose(fm.evaluate(fm.program_to_sympy(prog, ["n", "T"], X), ["n", "T"], X), want)


def test_parse_form_whitelist_refuses_code():
    names = ["n", "T"]
    expr = fm.parse_form("a + b*sqrt(n) - c/log(T)**2 + exp(-d*n) + abs(e)", names)
    n, T = sympy.symbols("n T", positive=True)
    assert expr.has(n) and expr.has(T) and {s.name for s in expr.free_symbols} == {"n", "T", "a", "b", "c", "d", "e"}
    for text, words in [
        ("__import__('os').system('touch /tmp/x')", "call of an attribute"),
        ("a + n.__class__", "attribute access"),
        ("__import__('os')", "the function '__import__'"),
        ("a + __x", "the name '__x'"),
        ("open('f')", "the function 'open'"),
        ("a + 'x'", "Constant"),
        ("a*n^2", "'^'"),
        ("n[0]", "Subscript"),
        ("(lambda: 1)()", "call of an expression"),
        ("a*n**100000", "exponent"),
        ("sqrt(n, 2)", "one positional argument"),
        ("a +", "cannot parse"),
    ]:
        with pytest.raises(ConfigError) as e:
            fm.parse_form(text, names)
        msg = str(e.value)
        assert "--form" in msg and words in msg and "\n" not in msg, (text, msg)


def test_gplearn_program_to_sympy_matches_gplearn_predictions():
    from gplearn.genetic import SymbolicRegressor

    rng = np.random.default_rng(1)
    X = rng.uniform(1, 50, (80, 2))
    y = np.sqrt(X[:, 0]) + np.log(X[:, 1])
    for seed in range(3):
        est = SymbolicRegressor(population_size=60, generations=3, random_state=seed, function_set=fm.FUNCTION_SET)
        est.fit(X, y)
        expr = fm.program_to_sympy(est._program, ["a", "b"], X)  # protections resolved on the rows of X
        f = sympy.lambdify(sympy.symbols("a b", positive=True), expr, "numpy")
        with np.errstate(all="ignore"):
            ours = np.broadcast_to(f(X[:, 0], X[:, 1]), (80,))
        np.testing.assert_allclose(ours, est.predict(X), rtol=1e-9, atol=1e-12)


class _Prog:
    """A hand-written gplearn-style program: prefix list of functions and terminals."""

    def __init__(self, program):
        self.program = program


class _F:
    def __init__(self, name, arity):
        self.name, self.arity = name, arity


def test_program_to_sympy_by_hand_and_sqrt_factors():
    # sub(0.9, div(0.5, sqrt(X1)))  ->  0.9 - 0.5/sqrt(T)
    prog = _Prog([_F("sub", 2), 0.9, _F("div", 2), 0.5, _F("sqrt", 1), 1])
    expr = fm.simplify(fm.program_to_sympy(prog, ["n", "T"], np.c_[np.ones(4), [1.0, 2, 9, 15]]))
    T = sympy.Symbol("T", positive=True)
    assert expr.free_symbols == {T}
    ts = np.array([1.0, 2.0, 9.0, 15.0])
    np.testing.assert_allclose(sympy.lambdify(T, expr)(ts), 0.9 - 0.5 / np.sqrt(ts), rtol=1e-4)
    assert fm.sqrt_factors(expr, ["n", "T"]) == {"n": False, "T": True}
    n = sympy.Symbol("n", positive=True)
    assert fm.sqrt_factors(sympy.log(n) + sympy.sqrt(n + T), ["n", "T"]) == {"n": True, "T": True}
    assert fm.sqrt_factors(n**2 + sympy.log(T), ["n", "T"]) == {"n": False, "T": False}


def test_sqrt_sum_and_log_forms_exact_on_noise_free_data():
    rng = np.random.default_rng(2)
    X = np.c_[rng.uniform(1, 100, 60), rng.uniform(1, 9, 60), rng.uniform(0.05, 1, 60)]
    names = ["n", "T", "ami"]
    tr, te = fm.holdout_split(60, 0.25, 1)
    y = 0.1 + 0.02 * np.sqrt(X[:, 0]) - 0.03 * np.sqrt(X[:, 1]) + 0.4 * np.sqrt(X[:, 2])
    fit = fm.fit_parametric(X, y, names, "sqrt_sum", tr, te)
    np.testing.assert_allclose([fit.coefficients[k] for k in "abcd"], [0.1, 0.02, -0.03, 0.4], atol=1e-10)
    assert fit.r2_test == pytest.approx(1.0)
    assert fit.sqrt_factors == {"n": True, "T": True, "ami": True}
    y = 2.0 - 0.5 * np.log(X[:, 0]) + 0.25 * np.log(X[:, 2])
    fit = fm.fit_parametric(X, y, names, "log", tr, te)
    np.testing.assert_allclose([fit.coefficients[k] for k in "abcd"], [2.0, -0.5, 0.0, 0.25], atol=1e-10)


def test_custom_forms_linear_and_nonlinear():
    rng = np.random.default_rng(3)
    X = np.c_[rng.uniform(10, 1000, 80), rng.integers(1, 7, 80)]
    tr, te = fm.holdout_split(80, 0.25, 0)
    y = 1.5 + 2.0 * X[:, 0] ** 0.3
    fit = fm.fit_parametric(X, y, ["n", "T"], "pw=a + b*n**c", tr, te)
    assert fit.method == "pw"
    np.testing.assert_allclose([fit.coefficients[k] for k in "abc"], [1.5, 2.0, 0.3], rtol=1e-4)
    y = 3.0 * X[:, 1] / np.sqrt(X[:, 0])
    fit = fm.fit_parametric(X, y, ["n", "T"], "ratio=k*T/sqrt(n)", tr, te)
    assert fit.coefficients == {"k": pytest.approx(3.0)}
    with pytest.raises(ConfigError, match="no coefficient"):
        fm.form_expression("bad=n*T", ["n", "T"])
    with pytest.raises(ConfigError, match="unknown form"):
        fm.form_expression("cubic", ["n", "T"])


def test_form_undefined_on_the_data_is_skipped():
    X = np.c_[np.arange(20.0), np.ones(20)]  # n = 0 in the first row
    tr, te = fm.holdout_split(20, 0.25, 0)
    fit = fm.fit_parametric(X, np.arange(20.0), ["n", "T"], "log", tr, te)
    assert "undefined" in fit.details["skipped"]


def test_holdout_split_is_a_partition():
    tr, te = fm.holdout_split(101, 0.2, 3)
    assert len(te) == 20 and len(tr) == 81
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(101))
    with pytest.raises(ConfigError, match="test_fraction"):
        fm.holdout_split(10, 1.0)


def test_load_csv_errors_and_nan_rows(tmp_path):
    path = tmp_path / "d.csv"
    rows = ["n,T,f"] + [f"{i + 1},{i % 3 + 1},{0.1 * i}" for i in range(12)] + ["5,2,nan"]
    path.write_text("\n".join(rows) + "\n")
    X, y = fm.load_csv(str(path), "f", ["n", "T"])
    assert X.shape == (12, 2) and y.shape == (12,)
    with pytest.raises(ConfigError, match="--features.*'m'"):
        fm.load_csv(str(path), "f", ["n", "m"])
    with pytest.raises(ConfigError, match="--target"):
        fm.load_csv(str(path), "score", ["n"])
    with pytest.raises(ConfigError, match="--csv"):
        fm.load_csv(str(tmp_path / "none.csv"), "f", ["n"])


def test_load_csv_matches_the_csv_module_with_a_bom_and_missing_cells(tmp_path):
    import csv

    rows = [["n", "T", "f"]] + [[str(i + 1), str(i % 3 + 1), f"{0.1 * i:.3f}"] for i in range(12)]
    rows[4][1] = ""  # a missing measurement: the row is dropped
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(",".join(r) for r in rows).encode() + b"\n\n")
    with open(path, encoding="utf-8-sig", newline="") as f:
        expected = [r for r in csv.DictReader(f) if all(r[c] for c in ("n", "T", "f"))]
    X, y = fm.load_csv(str(path), "f", ["n", "T"])
    np.testing.assert_array_equal(X, [[float(r["n"]), float(r["T"])] for r in expected])
    np.testing.assert_array_equal(y, [float(r["f"]) for r in expected])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"n,T,f\n" + b"1,2,0.5\n" * 3 + b"3,x7,0.7\n", r"d.csv line 5 column 'T': 'x7' is not a number"),
        (b"n,T,f\n1,2,0.5\n3,4\n", r"d.csv line 3: 2 cells, the header has 3"),
        (b"n,T,f\n1,2,0.5\n3,\xff,0.7\n", r"d.csv line 3: not UTF-8"),
        (b"", r"d.csv is empty"),
        (b"n,T,f\n", r"d.csv has no rows"),
    ],
)
def test_load_csv_bad_files_name_the_line_and_column(tmp_path, content, message):
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        fm.load_csv(str(path), "f", ["n", "T"])


def test_report_files(tmp_path):
    X, y = planted(rows=120, seed=4)
    report = fm.fit_formulas(X, y, ["n", "T"], forms=("maurer", "log"), symbolic=False)
    paths = fm.write_report(report, str(tmp_path), "y", "planted.csv")
    data = json.loads(open(paths["json"]).read())
    assert [f["method"] for f in data["fits"]] == ["maurer", "log"]
    assert data["n_train"] + data["n_test"] == 120
    md = open(paths["markdown"]).read()
    assert "| maurer |" in md and "R² held-out" in md
    for method in ("maurer", "log"):
        with open(paths[method], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_stability_table_counts_and_plot(tmp_path):
    rows = [
        {
            "outer_seed": s,
            "expression": "a",
            "r2_test": r2,
            "r2_validation": r2,
            "sqrt_factors": {"n": sq, "T": sq or s == 2},
            "all_sqrt": sq,
        }
        for s, r2, sq in [(0, 0.9, True), (1, 0.8, False), (2, 0.7, False)]
    ]
    md = fm.stability_markdown(rows, ["n", "T"])
    assert "in 1 of 3 searches (per feature: n 1/3, T 2/3)" in md
    assert f"held-out R² {np.mean([0.9, 0.8, 0.7]):.3f} ± {np.std([0.9, 0.8, 0.7]):.3f}" in md
    path = fm.plot_stability(
        rows, str(tmp_path / "s.png"), {"other": [{"seed": 0, "r2_test": 0.95, "all_sqrt": False}]}
    )
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
