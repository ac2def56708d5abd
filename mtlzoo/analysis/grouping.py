"""Task grouping from a ``k x k`` affinity matrix: Fifty et al.'s network selection (NeurIPS 2021, Sec. 3.2).

Given pairwise affinities ``A[j, i]`` (row = target j, column = source i; e.g. the lookahead
affinity Z_{i->j} of :mod:`mtlzoo.analysis.affinity`) and a budget of ``b`` models, choose at most
``b`` groups of tasks (groups may overlap) such that every task is served by some group, maximising

    value = (1 / k) * sum_j  max_{G selected, j in G}  score(j, G),
    score(j, G) = (1 / (|G| - 1)) * sum_{i in G, i != j} A[j, i]

i.e. each task is served by the selected model where the mean affinity onto it from its group
mates is highest (a task may also sit in another group only to help it). This is the objective of
the authors' network-selection code (google-research/tag, ``TAG_network_selection.ipynb``), where a
task alone in a group scores -1e6: ``singleton_score=None`` (the default) leaves one-task groups
out entirely, which is the same thing whenever a covering selection without them exists (always:
the all-task group alone covers every task). ``singleton_score=0.0`` lets a task be trained alone
and count as receiving zero affinity (what a single-task model gets), so a task that every source
hurts can be isolated.

Search (:func:`best_grouping`):

* ``exact`` (default for k <= 12): **optimal**. In any selection the tasks each group serves
  partition the k tasks, and a block T of served tasks is worth at most ``best(T) = max over groups
  G containing T of sum_{j in T} score(j, G)``; conversely a partition into at most b blocks, each
  given its best group, is a selection worth at least that sum. So the optimum is the best
  partition of the tasks into at most b blocks, found by dynamic programming over subsets in
  O(3^k b) steps (0.1 s at k = 8, a few seconds at k = 12). Equal to brute-force enumeration of
  every selection of at most b groups (tested for k <= 6).
* ``greedy`` (default beyond): start from the all-task group, add the group with the largest gain
  until b groups, then swap single groups while that improves. With every task already served by
  the all-task group, the value of the added groups is a facility-location function, monotone and
  submodular, so the greedy additions reach at least ``(1 - 1/e)`` of the best possible gain over
  the all-task model by ``b - 1`` added groups (Nemhauser, Wolsey & Fisher 1978); the swaps only
  improve on that. No guarantee against selections that leave the all-task group out. For
  k > 16 the candidates are the groups of at most ``max_group_size`` tasks plus the all-task group.

Example:
    >>> A = np.array([[0, .5, -.2], [.4, 0, -.1], [-.3, -.2, 0]])   # row = target, column = source
    >>> best_grouping(A, budget=2, singleton_score=0.0).groups
    [(0, 1), (2,)]
"""

import dataclasses
import itertools
import math

import numpy as np

EXACT_MAX_TASKS = 12
ALL_SUBSETS_MAX_TASKS = 16


@dataclasses.dataclass
class Grouping:
    """A selection of task groups.

    Attributes:
        groups: the selected groups, each a sorted tuple of task indices.
        served_by: for every task j, the index (into ``groups``) of the group that serves it.
        per_task: ``[k]`` score of each task in the group that serves it.
        value: the objective, the mean of ``per_task``.
        method: ``"exact"`` or ``"greedy"``.
        optimal: whether the value is proven to be the best (the exact search).
        nodes: search steps taken (3^k for the exact search; candidate evaluations for greedy).
    """

    groups: list
    served_by: list
    per_task: np.ndarray
    value: float
    method: str
    optimal: bool
    nodes: int

    def named(self, names):
        """The groups as lists of task names."""
        return [[names[i] for i in g] for g in self.groups]

    def to_dict(self, names=None):
        names = names or [str(i) for i in range(len(self.served_by))]
        return {
            "groups": self.named(names),
            "served_by": {names[j]: self.named(names)[g] for j, g in enumerate(self.served_by)},
            "per_task": {names[j]: float(v) for j, v in enumerate(self.per_task)},
            "value": float(self.value),
            "method": self.method,
            "optimal": bool(self.optimal),
            "nodes": int(self.nodes),
        }


def check_affinity(affinity):
    """A float64 ``[k, k]`` copy with finite off-diagonal entries (the diagonal is ignored), k >= 2."""
    a = np.asarray(affinity, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"affinity must be a square [k, k] matrix with k >= 2, got shape {a.shape}")
    off = ~np.eye(a.shape[0], dtype=bool)
    bad = np.argwhere(off & ~np.isfinite(a))
    if len(bad):
        i, j = bad[0]
        raise ValueError(f"affinity[{i}, {j}] is {a[i, j]}; every off-diagonal entry must be finite")
    return a


def group_score(affinity, group, singleton_score=None):
    """``[k]`` scores of a group: ``score(j, G)`` for j in G (mean affinity onto j from its group
    mates), ``-inf`` for tasks outside G. A one-task group scores ``singleton_score`` (None: -inf)."""
    a = np.asarray(affinity, dtype=np.float64)
    out = np.full(a.shape[0], -np.inf)
    g = list(group)
    if len(g) == 1:
        if singleton_score is not None:
            out[g[0]] = float(singleton_score)
        return out
    for j in g:
        out[j] = sum(a[j, i] for i in g if i != j) / (len(g) - 1)
    return out


def selection_value(affinity, groups, singleton_score=None):
    """The objective of a selection of groups: ``(value, per_task)``; value is ``-inf`` if a task is not served."""
    a = check_affinity(affinity)
    best = np.full(a.shape[0], -np.inf)
    for g in groups:
        best = np.maximum(best, group_score(a, g, singleton_score))
    return (float(best.mean()) if np.all(np.isfinite(best)) else -math.inf), best


def candidate_groups(k, singleton_score=None, max_group_size=None):
    """All groups of the k tasks (as sorted tuples) the search considers, largest first."""
    lo = 1 if singleton_score is not None else 2
    hi = k if max_group_size is None else min(k, max_group_size)
    out = [g for size in range(hi, lo - 1, -1) for g in itertools.combinations(range(k), size)]
    if hi < k:
        out.insert(0, tuple(range(k)))
    return out


def _finish(a, chosen, method, optimal, nodes, singleton_score):
    groups = sorted({tuple(sorted(g)) for g in chosen}, key=lambda g: (-len(g), g))
    scores = np.stack([group_score(a, g, singleton_score) for g in groups])
    served_by = [int(np.argmax(scores[:, j])) for j in range(a.shape[0])]
    per_task = scores.max(axis=0)
    # drop groups that serve no task (they cannot raise the value)
    used = sorted(set(served_by))
    groups = [groups[u] for u in used]
    served_by = [used.index(s) for s in served_by]
    return Grouping(groups, served_by, per_task, float(per_task.mean()), method, optimal, nodes)


def _greedy(a, cands, scores, budget):
    k = a.shape[0]
    full = cands.index(tuple(range(k)))
    chosen = [full]
    cur = scores[full].copy()
    nodes = 0
    while len(chosen) < budget:
        gains = np.maximum(scores, cur).sum(axis=1) - cur.sum()
        nodes += len(cands)
        best = int(np.argmax(gains))
        if gains[best] <= 1e-12:
            break
        chosen.append(best)
        cur = np.maximum(cur, scores[best])
    improved = True
    while improved:  # 1-swap local search: replace one chosen group by any candidate
        improved = False
        base = np.maximum.reduce([scores[c] for c in chosen]).sum()
        for pos in range(len(chosen)):
            rest = [c for p, c in enumerate(chosen) if p != pos]
            cur_rest = np.maximum.reduce([scores[c] for c in rest]) if rest else np.full(k, -np.inf)
            totals = np.maximum(scores, cur_rest)
            nodes += len(cands)
            ok = np.all(np.isfinite(totals), axis=1)
            vals = np.where(ok, np.where(ok[:, None], totals, 0).sum(axis=1), -np.inf)
            best = int(np.argmax(vals))
            if vals[best] > base + 1e-12:
                chosen[pos] = best
                improved = True
                break
    return [cands[c] for c in chosen], nodes


def _all_group_scores(a, singleton_score):
    """``[2^k, k]`` score(j, G) for every group G as a bit mask (bit i = task i); -inf outside G."""
    k = a.shape[0]
    masks = np.arange(1 << k)
    member = ((masks[:, None] >> np.arange(k)) & 1).astype(bool)  # [2^k, k]
    size = member.sum(axis=1)
    a0 = a.copy()
    np.fill_diagonal(a0, 0.0)
    sums = member.astype(np.float64) @ a0.T  # sums[G, j] = sum_{i in G} A[j, i] (i != j)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = sums / (size - 1)[:, None]
    sc[size == 1] = -np.inf if singleton_score is None else float(singleton_score)
    sc[~member] = -np.inf
    sc[0] = -np.inf
    return member, sc


def _exact(a, budget, singleton_score):
    """Optimal selection by dynamic programming over the sets of tasks each model serves.

    In a selection, the tasks each group serves partition the k tasks, and a block T is served
    at best by ``best(T) = max_{G containing T} sum_{j in T} score(j, G)``; conversely any partition
    into at most b blocks, each with its best group, is a selection worth at least the sum of its
    blocks. So the optimum is the best partition into at most b blocks of ``best``: computed for
    all 2^k blocks (over the 3^k pairs T subset of G), then ``dp_m(U) = max(dp_{m-1}(U),
    max_{T subset of U, T holds U's lowest task} best(T) + dp_{m-1}(U - T))``. O(3^k b) time.
    """
    k = a.shape[0]
    member, sc = _all_group_scores(a, singleton_score)
    n = 1 << k
    finite = np.where(np.isfinite(sc), sc, 0.0)
    best = np.full(n, -np.inf)
    arg = np.zeros(n, dtype=np.int64)
    memf = member.astype(np.float64)
    valid = np.all(np.isfinite(sc) | ~member, axis=1) & (np.arange(n) > 0)
    masks = np.arange(n)
    for lo in range(1, n, 256):  # groups G in chunks: W[T, G] = sum_{j in T} score(j, G) for T subset of G
        g = masks[lo : lo + 256]
        w = memf @ finite[g].T
        ok = ((masks[:, None] & ~g[None, :]) == 0) & valid[g][None, :]  # T subset of G, G allowed
        w = np.where(ok, w, -np.inf)
        j = np.argmax(w, axis=1)
        v = w[masks, j]
        better = v > best
        best[better], arg[better] = v[better], g[j[better]]
    best[0] = 0.0
    dp = best.copy()  # at most one block
    choice = [{u: u for u in range(1, n)}]
    for _ in range(1, min(budget, k)):
        new = dp.copy()
        pick = {}
        prev = dp
        for u in range(1, n):
            low = u & -u
            rest_bits = u ^ low
            t = rest_bits  # enumerate T = low | sub, sub a proper submask of u's other bits
            while True:
                t = (t - 1) & rest_bits
                block = low | t
                if block != u:
                    v = best[block] + prev[u ^ block]
                    if v > new[u] + 1e-12:
                        new[u], pick[u] = v, block
                if t == 0:
                    break
        choice.append(pick)
        dp = new
    # unwind: which blocks make the full set
    groups, u, level = [], n - 1, len(choice) - 1
    while u:
        while level > 0 and u not in choice[level]:
            level -= 1
        block = choice[level][u] if level > 0 else u
        groups.append(tuple(int(i) for i in np.flatnonzero(member[arg[block]])))
        u ^= block
        level -= 1
    return groups, 3**k


def best_grouping(affinity, budget, method="auto", singleton_score=None, max_group_size=3):
    """The selection of at most ``budget`` task groups with the highest predicted affinity.

    Args:
        affinity: ``[k, k]`` affinity, row = target, column = source (diagonal ignored).
        budget: the number of models b (>= 1).
        method: ``"exact"`` (optimal; O(3^k b), k <= 16), ``"greedy"`` (see the module docstring
            for its guarantee) or ``"auto"`` (exact for k <= 12, else greedy).
        singleton_score: the score of a task trained alone; None leaves one-task groups out.
        max_group_size: for greedy with k > 16, the largest group considered besides the all-task group.

    Returns:
        :class:`Grouping`.

    Raises:
        ValueError: a non-square or non-finite affinity, a budget < 1, an unknown method.
    """
    a = check_affinity(affinity)
    k = a.shape[0]
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be a positive integer (the number of models), got {budget!r}")
    if method == "auto":
        method = "exact" if k <= EXACT_MAX_TASKS else "greedy"
    if method not in ("exact", "greedy"):
        raise ValueError(f"method must be 'auto', 'exact' or 'greedy', got {method!r}")
    if method == "exact":
        if k > ALL_SUBSETS_MAX_TASKS:
            raise ValueError(f"the exact search takes 3^k steps; k={k} is too many (at most 16), use method='greedy'")
        groups, steps = _exact(a, int(budget), singleton_score)
        return _finish(a, groups, "exact", True, steps, singleton_score)
    size_cap = None if k <= ALL_SUBSETS_MAX_TASKS else max_group_size
    cands = candidate_groups(k, singleton_score, size_cap)
    scores = np.stack([group_score(a, g, singleton_score) for g in cands])
    groups, steps = _greedy(a, cands, scores, int(budget))
    return _finish(a, groups, "greedy", False, steps, singleton_score)
