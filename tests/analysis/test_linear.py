"""Linear MTL theory: Eq. (3) solver (first-order conditions), Proposition 1, alignment, task similarity."""

import numpy as np
import pytest

from mtlzoo.analysis import (
    check_proposition1,
    least_squares,
    solve_aligned_linear_mtl,
    solve_linear_mtl,
    task_similarity_matrix,
    train_relu_mtl,
)


def _normal_equations(x, y):
    return np.linalg.solve(x.T @ x, x.T @ y)


def _tasks(seed=0, k=3, d=6, sizes=(40, 55, 70), noise=0.3, shared_x=False):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=d)
    xs = [rng.normal(size=(sizes[0], d))] * k if shared_x else [rng.normal(size=(n, d)) for n in sizes[:k]]
    thetas = [base + 0.5 * rng.normal(size=d) for _ in range(k)]
    ys = [x @ t + noise * rng.normal(size=len(x)) for x, t in zip(xs, thetas, strict=True)]
    return xs, ys


def _gradients(sol, xs, ys):
    """Gradients of Eq. (3) in B and in each A_i at the solution (zero at a stationary point)."""
    b = sol.shared
    grad_b = np.zeros_like(b)
    grad_a = []
    for x, y, a in zip(xs, ys, sol.heads, strict=True):
        resid = x @ b @ a - y.reshape(len(y), -1)
        grad_b += x.T @ resid @ a.T
        grad_a.append(b.T @ x.T @ resid)
    return grad_b, grad_a


def test_least_squares_and_task_similarity_against_normal_equations():
    xs, ys = _tasks()
    thetas = [_normal_equations(x, y) for x, y in zip(xs, ys, strict=True)]
    np.testing.assert_allclose(least_squares(xs[0], ys[0]), thetas[0], rtol=1e-9)
    sim = task_similarity_matrix(xs, ys)
    for i in range(3):
        for j in range(3):
            cos = thetas[i] @ thetas[j] / (np.linalg.norm(thetas[i]) * np.linalg.norm(thetas[j]))
            assert sim[i, j] == pytest.approx(cos, rel=1e-9)
    ridge = least_squares(xs[0], ys[0], ridge=2.0)
    np.testing.assert_allclose(ridge, np.linalg.solve(xs[0].T @ xs[0] + 2 * np.eye(6), xs[0].T @ ys[0]))


@pytest.mark.parametrize("shared_x", [False, True])
def test_eq3_solution_is_stationary_and_beats_random_feasible_points(shared_x):
    xs, ys = _tasks(seed=1, shared_x=shared_x)
    sol = solve_linear_mtl(xs, ys, rank=1)
    assert sol.method == ("closed_form" if shared_x else "als")
    grad_b, grad_a = _gradients(sol, xs, ys)
    scale = sum(np.sum(y**2) for y in ys)
    assert np.abs(grad_b).max() < 1e-6 * scale and max(np.abs(g).max() for g in grad_a) < 1e-6 * scale
    direct = sum(np.sum((x @ p - y[:, None]) ** 2) for x, y, p in zip(xs, ys, sol.predictors, strict=True))
    assert sol.objective == pytest.approx(direct, rel=1e-8)
    rng = np.random.default_rng(2)
    for _ in range(50):  # random B, optimal heads for it: never better than the solver
        b = rng.normal(size=(6, 1))
        obj = sum(
            np.sum((x @ b @ np.linalg.lstsq(x @ b, y, rcond=None)[0] - y) ** 2) for x, y in zip(xs, ys, strict=True)
        )
        assert obj >= sol.objective - 1e-9


def test_closed_form_and_als_agree_on_shared_inputs():
    xs, ys = _tasks(seed=3, k=3, shared_x=True)
    closed = solve_linear_mtl(xs, ys, rank=2)
    als = solve_linear_mtl(xs, ys, rank=2, method="als", restarts=5)
    assert als.objective == pytest.approx(closed.objective, rel=1e-7)
    for p, q in zip(closed.predictors, als.predictors, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-5)


def test_conjugate_gradient_b_step_matches_direct_solve():
    xs, ys = _tasks(seed=4)
    direct = solve_linear_mtl(xs, ys, rank=2, restarts=1)
    cg = solve_linear_mtl(xs, ys, rank=2, restarts=1, direct_max=0)
    assert cg.objective == pytest.approx(direct.objective, rel=1e-8)


@pytest.mark.parametrize("init", ["svd", "random"])
def test_proposition1_r_at_least_k_gives_single_task_models(init):
    xs, ys = _tasks(seed=5, k=3)
    thetas = [_normal_equations(x, y) for x, y in zip(xs, ys, strict=True)]
    sol = solve_linear_mtl(xs, ys, rank=3, init=init, max_iter=5000)
    for p, t in zip(sol.predictors, thetas, strict=True):
        np.testing.assert_allclose(p[:, 0], t, rtol=1e-5, atol=1e-6)
    stl_loss = sum(np.sum((x @ t - y) ** 2) for x, y, t in zip(xs, ys, thetas, strict=True))
    assert sol.objective == pytest.approx(stl_loss, rel=1e-8)
    report = check_proposition1(xs, ys, init=init, max_iter=5000)
    assert report["rank"] == 3 and report["holds"] and report["max_gap"] < 1e-5
    # below the capacity of Prop. 1 the shared module forces transfer: B A_i != theta_i
    below = check_proposition1(xs, ys, rank=1)
    assert not below["holds"] and below["max_gap"] > 1e-2 and below["objective_gap"] > 0


def test_proposition1_with_multi_output_tasks_needs_sum_of_outputs():
    rng = np.random.default_rng(6)
    xs = [rng.normal(size=(50, 6)) for _ in range(2)]
    ys = [x @ rng.normal(size=(6, 2)) + 0.1 * rng.normal(size=(50, 2)) for x in xs]
    report = check_proposition1(xs, ys, max_iter=5000)
    assert report["required_rank"] == 4 and report["holds"]
    assert not check_proposition1(xs, ys, rank=2)["holds"]


def test_aligned_solver_interpolates_between_mtl_and_single_task():
    xs, ys = _tasks(seed=7, k=2, sizes=(30, 60))
    mtl = solve_linear_mtl(xs, ys, rank=1)
    thetas = [_normal_equations(x, y) for x, y in zip(xs, ys, strict=True)]
    loose = solve_aligned_linear_mtl(xs, ys, rank=1, penalty=1e-6, max_iter=2000)
    tight = solve_aligned_linear_mtl(xs, ys, rank=1, penalty=1e8)
    for p, t in zip(loose.predictors, thetas, strict=True):  # no tie: each task fits its own least squares
        np.testing.assert_allclose(p[:, 0], t, rtol=1e-3, atol=1e-4)
    for p, q in zip(tight.predictors, mtl.predictors, strict=True):  # infinite penalty: back to Eq. (3)
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)
    mid = solve_aligned_linear_mtl(xs, ys, rank=1, penalty=5.0, max_iter=2000)
    assert mid.objective <= mtl.objective + 1e-9  # R_i = I is feasible
    # stationarity in every R_i: 2 X^T (X R B A - y) (B A)^T + 2 lambda (R - I) = 0
    for x, y, r, a in zip(xs, ys, mid.alignments, mid.heads, strict=True):
        m = mid.shared @ a
        grad = x.T @ (x @ r @ m - y[:, None]) @ m.T + 5.0 * (r - np.eye(6))
        assert np.abs(grad).max() < 1e-5 * np.sum(y**2)


def test_fixed_shared_alignment_keeps_b():
    xs, ys = _tasks(seed=8, k=2, sizes=(30, 60))
    mtl = solve_linear_mtl(xs, ys, rank=1)
    fixed = solve_aligned_linear_mtl(xs, ys, rank=1, penalty=3.0, fix_shared=True)
    cos = abs(float(fixed.shared[:, 0] @ mtl.shared[:, 0]))
    assert cos == pytest.approx(1.0, abs=1e-12)
    assert fixed.method == "aligned_fixed_shared"
    assert fixed.objective <= mtl.objective + 1e-9


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda xs, ys: solve_linear_mtl(xs[:1], ys[:1], 1), "at least 2 tasks (k >= 2), got k=1"),
        (lambda xs, ys: solve_linear_mtl([xs[0], xs[1][:, :4]], ys[:2], 1), "xs[1] has 4 features"),
        (lambda xs, ys: solve_linear_mtl([xs[0], xs[1][:0]], [ys[0], ys[1][:0]], 1), "xs[1] is empty"),
        (lambda xs, ys: solve_linear_mtl(xs, [ys[0], ys[1][:5], ys[2]], 1), "ys[1] has 5 rows"),
        (lambda xs, ys: solve_linear_mtl(xs, ys, 7), "rank 7 exceeds the feature dimension d=6"),
        (lambda xs, ys: solve_linear_mtl(xs, ys, 0), "rank must be >= 1"),
        (lambda xs, ys: solve_linear_mtl(xs, ys[:2], 1), "xs has 3 tasks but ys has 2"),
        (lambda xs, ys: solve_linear_mtl(xs, ys, 1, method="closed_form"), "same X for every task"),
        (lambda xs, ys: solve_aligned_linear_mtl(xs, ys, 1, penalty=0), "penalty must be > 0"),
        (lambda xs, ys: task_similarity_matrix(xs[:1], ys[:1]), "k >= 2"),
    ],
)
def test_bad_input_names_the_problem(call, words):
    xs, ys = _tasks(seed=9)
    with pytest.raises(ValueError) as e:
        call(xs, ys)
    assert words in str(e.value)


@pytest.mark.parametrize("alignment", [False, True])
def test_relu_variant_trains_with_keras(alignment):
    from mtlzoo.layers import CovarianceAlignment

    rng = np.random.default_rng(10)
    theta = rng.normal(size=5)
    xs = [rng.normal(size=(60, 5)) for _ in range(2)]
    ys = [np.maximum(x @ theta, 0) for x in xs]
    first = train_relu_mtl(xs, ys, rank=2, alignment=alignment, epochs=0, seed=0)
    res = train_relu_mtl(xs, ys, rank=2, alignment=alignment, epochs=150, learning_rate=0.05, seed=0)
    assert res.final_loss < 0.5 * first.final_loss
    assert res.predict(1, xs[1]).shape == (60, 1)
    has_alignment = any(isinstance(layer, CovarianceAlignment) for layer in res.model.layers)
    assert has_alignment == alignment
    # each task's loss counts only its own examples: the head's MSE on its data is the model's
    mse = np.mean((res.predict(0, xs[0])[:, 0] - ys[0]) ** 2)
    assert np.isfinite(mse) and mse < np.var(ys[0])
