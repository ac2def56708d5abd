"""Synthetic linear tasks of Wu, Zhang & Ré (ICLR 2020, Fig. 3): covariance misalignment.

Every task draws a latent input ``z ~ N(0, Sigma)`` (``d``-dimensional) and observes it
through its own linear map T_i: the task's features are ``x = z T_i`` and its label is
``y = z theta_i^latent + noise``. In the model's coordinates the task is therefore
linear with covariance ``T_i^T Sigma T_i`` and task vector ``theta_i = T_i^{-1} theta_i^latent``.
The four tasks of :func:`fig3_tasks`:

====  =================================  ==========================================
task  features                           relation to task 1
====  =================================  ==========================================
1     ``x = z`` (T = I)                  target
2     ``x = z``                          same covariance; cos(theta_1, theta_2) = 0.96
3     ``x = z D``, D = U diag(delta) U^T  same latent task as 2, covariance with a
                                          different spectrum (same eigenvectors U)
4     ``x = z Q``, Q a random rotation    same latent task as 2, covariance rotated
                                          (same spectrum)
====  =================================  ==========================================

``Sigma = U diag(lambda) U^T`` with a geometric spectrum (condition number
``spectrum_ratio^2``) and trace d. Tasks 3 and 4 carry the same information as task 2;
only their embedding is misaligned, so an alignment ``R_3 = D^{-1}`` or ``R_4 = Q^T``
would turn them back into task 2. This is our construction after the paper's
description of Fig. 3 (the paper's exact generator is not given in this repository).

Variants (``kind``): ``"linear"`` (``y = z theta + noise``), ``"classification"``
(``y = 1[z theta + noise > 0]`` in {0, 1}) and ``"relu"`` (``y = relu(z theta) + noise``).

Everything is seeded: the same seed gives the same tasks and samples.

Example:
    >>> tasks = fig3_tasks(d=20, seed=0)
    >>> x, y = tasks[0].sample(100, seed=1)
    >>> tasks[0].test_mse(theta_hat)      # exact expected squared error of a linear model
"""

import dataclasses

import numpy as np

KINDS = ("linear", "classification", "relu")


@dataclasses.dataclass
class LinearTask:
    """One synthetic task: features ``x = z T``, ``z ~ N(0, Sigma)``, label from ``z theta_latent``.

    Attributes:
        name: task name.
        latent_theta: ``[d]`` task vector on the latent z.
        transform: T, ``[d, d]`` invertible map from z to the features.
        latent_cov: Sigma, ``[d, d]``.
        noise: standard deviation of the label noise.
        kind: ``"linear"``, ``"classification"`` or ``"relu"``.
    """

    name: str
    latent_theta: np.ndarray
    transform: np.ndarray
    latent_cov: np.ndarray
    noise: float
    kind: str = "linear"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def dim(self):
        return len(self.latent_theta)

    @property
    def theta(self):
        """The task vector in the feature coordinates, ``T^{-1} theta_latent`` (``[d]``)."""
        return np.linalg.solve(self.transform, self.latent_theta)

    @property
    def covariance(self):
        """The feature covariance ``T^T Sigma T`` (``[d, d]``)."""
        return self.transform.T @ self.latent_cov @ self.transform

    def sample(self, n, seed):
        """``(x [n, d] float64, y [n] float64)``; labels by ``kind`` (0/1 for classification)."""
        if n < 0:
            raise ValueError(f"number of samples must be >= 0, got {n}")
        rng = np.random.default_rng(seed)
        chol = np.linalg.cholesky(self.latent_cov)
        z = rng.standard_normal((n, self.dim)) @ chol.T
        score = z @ self.latent_theta
        eps = self.noise * rng.standard_normal(n)
        if self.kind == "linear":
            y = score + eps
        elif self.kind == "classification":
            y = (score + eps > 0).astype(np.float64)
        else:
            y = np.maximum(score, 0.0) + eps
        return z @ self.transform, y

    def test_mse(self, theta_hat):
        """Expected squared error ``E (x theta_hat - y)^2`` of a linear model (``kind="linear"``).

        Exact: ``(theta_hat - theta)^T Cov (theta_hat - theta) + noise^2``; no test sample needed.
        """
        if self.kind != "linear":
            raise ValueError(f"test_mse is exact only for linear tasks, this one is {self.kind!r}")
        e = np.asarray(theta_hat, dtype=np.float64).reshape(-1) - self.theta
        return float(e @ self.covariance @ e + self.noise**2)


def random_rotation(d, rng):
    """A Haar-random orthogonal ``d x d`` matrix."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def fig3_tasks(d=20, seed=0, cosine=0.96, noise=0.5, spectrum_ratio=3.0, distortion=5.0, kind="linear"):
    """The four tasks of the Fig. 3 study (see the module docstring).

    Args:
        d: feature dimension.
        seed: seeds Sigma's eigenvectors U, the task vectors and the rotation Q.
        cosine: cos(theta_1, theta_2) (the same for tasks 3 and 4 on the latent z).
        noise: label noise standard deviation.
        spectrum_ratio: Sigma's eigenvalues run geometrically from ``spectrum_ratio`` to
            ``1 / spectrum_ratio`` (then scaled to trace d).
        distortion: task 3's D rescales Sigma's eigen-directions by factors running
            geometrically from ``distortion`` to ``1 / distortion``.
        kind: ``"linear"``, ``"classification"`` or ``"relu"``.

    Returns:
        list of four :class:`LinearTask` named ``task1`` .. ``task4``.
    """
    if d < 2:
        raise ValueError(f"d must be >= 2, got {d}")
    if not -1 < cosine < 1:
        raise ValueError(f"cosine must be in (-1, 1), got {cosine}")
    if spectrum_ratio < 1 or distortion < 1:
        raise ValueError("spectrum_ratio and distortion must be >= 1")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    u = random_rotation(d, rng)
    lam = np.geomspace(spectrum_ratio, 1.0 / spectrum_ratio, d)
    lam *= d / lam.sum()
    sigma = (u * lam) @ u.T
    theta1 = rng.standard_normal(d)
    theta1 /= np.linalg.norm(theta1)
    perp = rng.standard_normal(d)
    perp -= (perp @ theta1) * theta1
    perp /= np.linalg.norm(perp)
    theta2 = cosine * theta1 + np.sqrt(1 - cosine**2) * perp
    dmat = (u * np.geomspace(distortion, 1.0 / distortion, d)) @ u.T
    q = random_rotation(d, rng)
    eye = np.eye(d)
    specs = [(theta1, eye), (theta2, eye), (theta2, dmat), (theta2, q)]
    return [LinearTask(f"task{i + 1}", t, tr, sigma, float(noise), kind) for i, (t, tr) in enumerate(specs)]


def sample_tasks(tasks, sizes, seed):
    """Samples every task: ``sizes`` is a list of n_i (one per task); returns ``(xs, ys)`` lists.

    Task i's sample is drawn from ``seed`` and i, so changing one task's size leaves the
    others' samples unchanged.
    """
    if len(sizes) != len(tasks):
        raise ValueError(f"sizes has {len(sizes)} entries but there are {len(tasks)} tasks")
    xs, ys = [], []
    for i, (task, n) in enumerate(zip(tasks, sizes, strict=True)):
        x, y = task.sample(int(n), seed=[int(seed), i])
        xs.append(x)
        ys.append(y)
    return xs, ys
