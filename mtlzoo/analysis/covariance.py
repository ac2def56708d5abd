"""Covariance similarity score (Wu, Zhang & Ré, ICLR 2020, Eq. 5) and model task embeddings.

For task data ``X_i`` (``[n_i, d]``) write ``X_i^T X_i = U_i D_i U_i^T`` and keep the top
``r_i`` eigen-pairs, the smallest ``r_i`` whose eigenvalues hold a fraction ``energy``
(default 99%) of the trace. With ``F_i = U_i D_i^{1/2}`` (``d x r_i``), Eq. 5 is::

    score(X_1, X_2) = ||F_1^T F_2||_F / (||F_1||_F ||F_2||_F)     in [0, 1]

Everything is computed from the thin SVD ``X_i = W_i S_i V_i^T``: ``U_i = V_i`` and
``D_i = S_i^2``, so ``F_i = V_i S_i``; no ``d x d`` matrix is ever formed and the score
needs only the small ``r_1 x r_2`` product ``F_1^T F_2``.

For identical inputs Eq. 5 equals ``||D_r||_F / tr(D_r)``, which is 1 only when r = 1.
:func:`normalized_covariance_similarity` divides by ``sqrt(||D_1||_F ||D_2||_F)`` instead,
which is the square root of the Frobenius cosine between the truncated second-moment
matrices ``F_1 F_1^T`` and ``F_2 F_2^T``: 1 for inputs with the same truncated covariance.

Both scores are uncentred (``X^T X``, as in the paper) and invariant to a rotation
``X_i -> X_i Q`` applied to both inputs and to a rescaling of either input.

Example:
    >>> x1 = np.random.randn(200, 16); x2 = x1 @ np.diag(np.linspace(0.1, 3, 16))
    >>> covariance_similarity(x1, x2)             # Eq. 5
    >>> normalized_covariance_similarity(x1, x1)  # 1.0
"""

import numpy as np

from mtlzoo.analysis._checks import as_matrix, task_list


def _check_energy(energy):
    if not (isinstance(energy, (int, float)) and 0 < energy <= 1):
        raise ValueError(f"energy must be in (0, 1], got {energy!r}")
    return float(energy)


def spectral_factor(x, energy=0.99, name="x"):
    """The truncated factor ``F = U_r D_r^{1/2}`` of ``X^T X`` (``d x r``) and its eigenvalues ``D_r``.

    Args:
        x: ``[n, d]`` task data (e.g. a task's embeddings).
        energy: fraction of ``tr(X^T X)`` the kept eigenvalues must hold; r is the smallest
            rank that reaches it.

    Returns:
        ``(F, eigenvalues)``: ``F`` float64 ``[d, r]``, ``eigenvalues`` ``[r]`` (descending).

    Raises:
        ValueError: empty or non-finite input, all-zero input, or energy outside (0, 1].
    """
    energy = _check_energy(energy)
    a = as_matrix(x, name)
    _, s, vt = np.linalg.svd(a, full_matrices=False)
    eig = s**2
    total = eig.sum()
    if total <= 0:
        raise ValueError(f"{name} is all zeros; its covariance similarity is undefined")
    cum = np.cumsum(eig) / total
    r = int(np.searchsorted(cum, energy - 1e-12) + 1)
    r = min(r, len(eig))
    return vt[:r].T * s[:r], eig[:r]


def _score(f1, e1, f2, e2, normalized):
    num = np.linalg.norm(f1.T @ f2)
    if normalized:
        den = np.sqrt(np.linalg.norm(e1) * np.linalg.norm(e2))  # ||F^T F||_F = ||D_r||_F
    else:
        den = np.sqrt(e1.sum() * e2.sum())  # ||F||_F^2 = tr(D_r)
    return float(min(max(num / den, 0.0), 1.0))


def covariance_similarity(x1, x2, energy=0.99):
    """Covariance similarity score of Eq. 5 (Wu, Zhang & Ré 2020) between two tasks' data.

    Args:
        x1, x2: ``[n_1, d]`` and ``[n_2, d]`` arrays (same d).
        energy: fraction of each spectrum kept by the rank-r_i truncation (paper: 0.99).

    Returns:
        float in [0, 1]: ``||F_1^T F_2||_F / (||F_1||_F ||F_2||_F)``. For identical inputs it is
        ``||D_r||_F / tr(D_r)`` (1 only at rank one); see :func:`normalized_covariance_similarity`.

    Raises:
        ValueError: mismatched feature dimensions, empty/all-zero/non-finite data, bad energy.

    Example:
        >>> covariance_similarity(np.random.randn(50, 8), np.random.randn(60, 8))
    """
    a1 = as_matrix(x1, "x1")
    a2 = as_matrix(x2, "x2", dim=a1.shape[1])
    f1, e1 = spectral_factor(a1, energy, "x1")
    f2, e2 = spectral_factor(a2, energy, "x2")
    return _score(f1, e1, f2, e2, normalized=False)


def normalized_covariance_similarity(x1, x2, energy=0.99):
    """Eq. 5's numerator over ``sqrt(||D_1||_F ||D_2||_F)``: 1 when the truncated covariances agree.

    Equals ``sqrt(<C_1, C_2>_F / (||C_1||_F ||C_2||_F))`` with ``C_i = U_i D_i U_i^T`` the rank-r_i
    truncation of ``X_i^T X_i``; in [0, 1], and >= :func:`covariance_similarity`. Not the paper's
    score: offered beside it because Eq. 5 is below 1 even for identical inputs.

    Example:
        >>> x = np.random.randn(40, 5)
        >>> normalized_covariance_similarity(x, 3 * x)   # 1.0
    """
    a1 = as_matrix(x1, "x1")
    a2 = as_matrix(x2, "x2", dim=a1.shape[1])
    f1, e1 = spectral_factor(a1, energy, "x1")
    f2, e2 = spectral_factor(a2, energy, "x2")
    return _score(f1, e1, f2, e2, normalized=True)


def covariance_similarity_matrix(xs, energy=0.99, normalized=False):
    """The ``k x k`` matrix of Eq. 5 scores between every pair of tasks' data.

    Each task's SVD is computed once. The diagonal holds each task's score with itself
    (``||D_r||_F / tr(D_r)``, or 1 when ``normalized``).

    Args:
        xs: list of k ``[n_i, d]`` arrays (or a mapping name -> array; order kept).
        energy: fraction of each spectrum kept.
        normalized: use :func:`normalized_covariance_similarity` instead of Eq. 5.

    Returns:
        float64 ``[k, k]`` symmetric array with entries in [0, 1].

    Raises:
        ValueError: k < 2, mismatched feature dimensions, empty task data, bad energy.
    """
    items = task_list(xs, "xs")
    first = as_matrix(items[0], "xs[0]")
    factors = [
        spectral_factor(as_matrix(x, f"xs[{i}]", dim=first.shape[1]), energy, f"xs[{i}]") for i, x in enumerate(items)
    ]
    k = len(factors)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            out[i, j] = out[j, i] = _score(*factors[i], *factors[j], normalized=normalized)
    return out


def _keras_mask(tensor):
    import keras

    getter = getattr(keras.backend, "get_keras_mask", None)
    return getter(tensor) if getter else getattr(tensor, "_keras_mask", None)


def _padding_from_features(features, time):
    """A ``[batch, time]`` 0/1 array from the features: ``padding_mask``, else an int token input (0 = pad)."""
    if "padding_mask" in features:
        return np.asarray(features["padding_mask"]) != 0
    for name in ("tokens", "token_ids"):
        if name in features and np.asarray(features[name]).ndim == 2 and np.asarray(features[name]).shape[1] == time:
            return np.asarray(features[name]) != 0
    return None


def _layer_output_in(model, layer):
    """The symbolic output of ``layer`` in ``model``'s own graph.

    A layer reused from another model (keras-hub's BERT sub-layers, rebuilt by the ``bert``
    encoder) has several call nodes; ``layer.output`` would be the first, foreign one.
    """
    nodes = getattr(layer, "_inbound_nodes", [])
    if len(nodes) > 1:
        own = {id(n) for depth in getattr(model, "_nodes_by_depth", {}).values() for n in depth}
        mine = [n for n in nodes if id(n) in own]
        if len(mine) == 1:
            outs = mine[0].outputs
            return outs[0] if len(outs) == 1 else outs
        raise ValueError(f"layer {layer.name!r} is called {len(mine) or len(nodes)} times; its output is ambiguous")
    return layer.output


def task_embeddings(model, features, task_ids, layer_name, num_tasks=None, batch_size=256, rows="tokens"):
    """Per-task embeddings of a trained Keras model at layer ``layer_name``.

    Runs ``model``'s inputs up to the output of ``layer_name`` (the embedding layer E,
    before the shared encoder: ``"embedding"`` for ``text_cnn``/``lstm``/``tagger``; an
    alignment layer's name gives the embeddings after alignment) and groups the rows
    by ``task_ids``. For ``[batch, time, d]`` outputs padding positions are dropped, using
    the layer's Keras mask, else the ``padding_mask`` feature, else token id 0 of
    ``tokens``/``token_ids``; ``rows="tokens"`` makes every real token one row,
    ``rows="examples"`` one row per example, the mean of its real tokens
    (``sum_t m_t x_t / sum_t m_t``: the paper's ``X_i`` has one row per data point; an
    example without real tokens is dropped). ``[batch, d]`` outputs: one row per example.

    Args:
        model: a functional ``keras.Model`` (e.g. from :func:`mtlzoo.build_model`).
        features: dict of model inputs (numpy arrays); ``task_id`` is added from
            ``task_ids`` when the model takes it and the dict lacks it.
        task_ids: int ``[batch]``: which task each example belongs to.
        layer_name: name of the layer whose output is the embedding.
        num_tasks: k; defaults to ``max(task_ids) + 1``.
        rows: ``"tokens"`` or ``"examples"`` (see above).

    Returns:
        list of k float64 arrays ``[n_i, d]``.

    Raises:
        ValueError: unknown layer, a task with no (non-padding) rows, bad task ids.

    Example:
        >>> xs = task_embeddings(model, {"tokens": tokens}, task_ids, "embedding")
        >>> covariance_similarity_matrix(xs)
    """
    import keras

    if rows not in ("tokens", "examples"):
        raise ValueError(f"rows must be 'tokens' or 'examples', got {rows!r}")
    task_ids = np.asarray(task_ids).reshape(-1)
    if task_ids.size == 0:
        raise ValueError("task_ids is empty")
    if not np.issubdtype(task_ids.dtype, np.integer) or task_ids.min() < 0:
        raise ValueError("task_ids must be non-negative integers")
    k = int(num_tasks) if num_tasks is not None else int(task_ids.max()) + 1
    if task_ids.max() >= k:
        raise ValueError(f"task_ids holds id {int(task_ids.max())} but num_tasks={k}")
    try:
        layer = model.get_layer(layer_name)
    except ValueError as e:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(f"model has no layer {layer_name!r}; its layers are: {names}") from e
    out = _layer_output_in(model, layer)
    mask = _keras_mask(out)
    outputs = {"x": out} if mask is None else {"x": out, "mask": mask}
    structure = model.input
    if isinstance(structure, dict):
        input_names = list(structure)
    else:
        structure = list(structure) if isinstance(structure, (list, tuple)) else [structure]
        input_names = [t.name.split(":")[0] for t in structure]
        structure = dict(zip(input_names, structure, strict=True))
    probe = keras.Model(structure, outputs)

    feed = dict(features)
    if "task_id" in input_names and "task_id" not in feed:
        feed["task_id"] = task_ids.astype(np.int32)
    feed = {name: feed[name] for name in input_names if name in feed}
    missing = [name for name in input_names if name not in feed]
    if missing:
        raise ValueError(f"features lack the model inputs {missing}")
    n = len(next(iter(feed.values())))
    if n != len(task_ids):
        raise ValueError(f"features have {n} examples but task_ids has {len(task_ids)}")

    res = probe.predict(feed, batch_size=batch_size, verbose=0)
    x = np.asarray(res["x"], dtype=np.float64)
    if x.ndim == 3:
        keep = np.asarray(res["mask"]).astype(bool) if "mask" in res else _padding_from_features(features, x.shape[1])
        if keep is None:
            keep = np.ones(x.shape[:2], bool)
        if rows == "examples":
            count = keep.sum(axis=1)
            x = (x * keep[..., None]).sum(axis=1)[count > 0] / count[count > 0, None]
            task_ids = task_ids[count > 0]
            out = [x[task_ids == i] for i in range(k)]
        else:
            out = [x[task_ids == i][keep[task_ids == i]] for i in range(k)]
    elif x.ndim == 2:
        out = [x[task_ids == i] for i in range(k)]
    else:
        raise ValueError(f"layer {layer_name!r} outputs shape {x.shape}; expected [batch, d] or [batch, time, d]")
    for i, r in enumerate(out):
        if len(r) == 0:
            raise ValueError(f"task {i} has no (non-padding) examples in the given features")
    return out


def embedding_similarity_matrix(
    model, features, task_ids, layer_name, energy=0.99, normalized=False, num_tasks=None, rows="tokens"
):
    """The ``k x k`` covariance similarity matrix (Eq. 5) of a model's task embeddings.

    :func:`task_embeddings` at ``layer_name`` (``rows``: one row per token or per example),
    then :func:`covariance_similarity_matrix`. Call it with the embedding layer's name and with
    the alignment layer's name to compare the scores before and after alignment.
    """
    return covariance_similarity_matrix(
        task_embeddings(model, features, task_ids, layer_name, num_tasks=num_tasks, rows=rows), energy, normalized
    )
