"""Samplers and batch plans: distributions, reproducibility, resumability, replica slicing."""

import numpy as np
import pytest
from scipy.stats import chisquare

from mtlzoo import ConfigError
from mtlzoo.data import SAMPLERS
from mtlzoo.data.base import PAD_MULTIPLE, Split
from mtlzoo.data.mixing import BatchPlan, train_dataset

SIZES = [100, 400, 1600]


@pytest.mark.parametrize(
    "name,opts,expected",
    [
        ("uniform", {}, np.full(3, 1 / 3)),
        ("proportional", {"alpha": 1.0}, np.array(SIZES) / 2100),
        ("proportional", {"alpha": 0.5}, np.sqrt(SIZES) / np.sqrt(SIZES).sum()),
        ("temperature", {"temperature": 2.0}, np.sqrt(SIZES) / np.sqrt(SIZES).sum()),
        ("temperature", {"temperature": 4.0}, np.power(SIZES, 0.25) / np.power(SIZES, 0.25).sum()),
    ],
)
def test_sampler_frequencies_match_their_distribution(name, opts, expected):
    s = SAMPLERS.get(name)(opts)
    np.testing.assert_allclose(s.probabilities(SIZES, 0, 100), expected, rtol=1e-12)
    n = 20000
    counts = np.bincount(s.choices(SIZES, 0, n, n, seed=7), minlength=3)
    assert chisquare(counts, expected * n).pvalue > 1e-3
    np.testing.assert_array_equal(s.choices(SIZES, 0, n, n, 7), s.choices(SIZES, 0, n, n, 7))
    assert not np.array_equal(s.choices(SIZES, 0, n, n, 7), s.choices(SIZES, 0, n, n, 8))


def test_annealed_moves_from_proportional_toward_uniform():
    s = SAMPLERS.get("annealed")()
    total = 1000
    np.testing.assert_allclose(s.probabilities(SIZES, 0, total), np.array(SIZES) / 2100)
    late = s.probabilities(SIZES, total, total)
    np.testing.assert_allclose(late, np.power(SIZES, 0.2) / np.power(SIZES, 0.2).sum())
    ch = s.choices(SIZES, 0, total, total, seed=1)
    first, last = np.bincount(ch[:200], minlength=3) / 200, np.bincount(ch[-200:], minlength=3) / 200
    assert first[2] > last[2] and first[0] < last[0]


def test_round_robin_and_resumed_choices():
    rr = SAMPLERS.get("round_robin")()
    np.testing.assert_array_equal(rr.choices(SIZES, 4, 10, 10, 0), [1, 2, 0, 1, 2, 0])
    s = SAMPLERS.get("temperature")({"temperature": 2.0})
    full = s.choices(SIZES, 0, 500, 500, 3)
    np.testing.assert_array_equal(s.choices(SIZES, 200, 500, 500, 3), full[200:])


def _hetero_split(sizes=(30, 50, 20)):
    tid = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)]).astype(np.int32)
    n = len(tid)
    w = {f"t{i}": (tid == i).astype(np.float32) for i in range(len(sizes))}
    y = {f"t{i}": np.zeros((n, 1), np.float32) for i in range(len(sizes))}
    return Split({"features": np.arange(n, dtype=np.float32)[:, None], "task_id": tid}, y, w)


def test_joint_plan_gives_every_task_a_sub_batch_and_covers_each_epoch():
    split = _hetero_split()
    plan = BatchPlan(split, ["t0", "t1", "t2"], batch_size=10, mode="joint", seed=0, total_steps=10)
    rows, mask = plan.step(0)
    assert len(rows) == 30 and plan.global_batch_size == 30
    np.testing.assert_array_equal(split.features["task_id"][rows], np.repeat([0, 1, 2], 10))
    np.testing.assert_array_equal(mask, [1, 1, 1])
    # task 1 (50 examples) sees each of its examples once in 5 steps
    seen = np.concatenate([plan.step(s)[0][10:20] for s in range(5)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(30, 80))


def test_interleaved_plan_draws_one_task_per_step_and_is_step_addressable():
    split = _hetero_split()
    sampler = SAMPLERS.get("uniform")()
    a = BatchPlan(split, ["t0", "t1", "t2"], 8, "interleaved", sampler, seed=5, total_steps=40)
    b = BatchPlan(split, ["t0", "t1", "t2"], 8, "interleaved", sampler, seed=5, total_steps=40)
    for s in range(40):
        rows, mask = a.step(s)
        t = int(np.argmax(mask))
        assert mask.sum() == 1
        assert np.all(split.features["task_id"][rows] == t)
    for s in (39, 3, 17):  # random access gives the same batch as sequential access
        np.testing.assert_array_equal(a.step(s)[0], b.step(s)[0])


def test_dataset_slices_the_global_batch_over_replicas_in_order():
    class Ctx:
        def __init__(self, pipelines, pid, replicas):
            self.num_input_pipelines, self.input_pipeline_id, self.num_replicas_in_sync = pipelines, pid, replicas

    split = _hetero_split()
    plan = BatchPlan(split, ["t0", "t1", "t2"], 4, "joint", seed=2, total_steps=6)
    single = [b[0]["features"].numpy()[:, 0] for b in train_dataset(split, plan, ["features"], 0)]
    two_local = [b[0]["features"].numpy()[:, 0] for b in train_dataset(split, plan, ["features"], 0, Ctx(1, 0, 2))]
    workers = [
        [b[0]["features"].numpy()[:, 0] for b in train_dataset(split, plan, ["features"], 0, Ctx(2, w, 2))]
        for w in (0, 1)
    ]
    for s in range(6):
        np.testing.assert_array_equal(np.concatenate(two_local[2 * s : 2 * s + 2]), single[s])
        np.testing.assert_array_equal(np.concatenate([workers[0][s], workers[1][s]]), single[s])
    resumed = [b[0]["features"].numpy()[:, 0] for b in train_dataset(split, plan, ["features"], 4)]
    np.testing.assert_array_equal(resumed[0], single[4])
    with pytest.raises(ConfigError, match="does not split over 5 replicas"):
        train_dataset(split, plan, ["features"], 0, Ctx(1, 0, 5))


def test_interleaved_weights_only_the_chosen_task():
    split = _hetero_split()
    plan = BatchPlan(split, ["t0", "t1", "t2"], 5, "interleaved", SAMPLERS.get("round_robin")(), seed=0, total_steps=3)
    for s, (_, _, w) in enumerate(train_dataset(split, plan, ["features"], 0)):
        for i in range(3):
            assert float(w[f"t{i}"].numpy().sum()) == (5.0 if i == s % 3 else 0.0)


def test_round_robin_probabilities_are_one_hot_at_step_mod_k():
    rr = SAMPLERS.get("round_robin")()
    for step in range(7):
        np.testing.assert_array_equal(rr.probabilities(SIZES, step, 7), np.eye(3)[step % 3])


def test_annealed_reaches_exponent_02_at_the_last_step_even_for_one_step():
    s = SAMPLERS.get("annealed")()
    np.testing.assert_allclose(s.probabilities(SIZES, 1, 1), np.power(SIZES, 0.2) / np.power(SIZES, 0.2).sum())
    np.testing.assert_allclose(s.probabilities(SIZES, 0, 0), np.array(SIZES) / 2100)  # no division by zero


def test_choices_give_the_last_task_the_mass_the_probabilities_leave_over():
    from mtlzoo.data.samplers import Sampler

    class Short(Sampler):  # sums to 0.9: the inverse-CDF draw must still stay in [0, k)
        def probabilities(self, sizes, step, total_steps):
            return np.array([0.3, 0.3, 0.3])

    ch = Short().choices(SIZES, 0, 4000, 4000, seed=0)
    assert ch.min() >= 0 and ch.max() <= 2
    # inverse CDF against numpy: u in [0, .3) -> 0, [.3, .6) -> 1, the rest -> 2
    u = np.random.Generator(np.random.Philox(key=0 + 0x5EED)).random(4000)
    np.testing.assert_array_equal(ch, np.where(u < 0.3, 0, np.where(u < 0.6, 1, 2)))


def test_proportional_without_options_is_proportional_to_size():
    np.testing.assert_allclose(SAMPLERS.get("proportional")().probabilities(SIZES, 0, 1), np.array(SIZES) / 2100)


def test_temperature_defaults_to_2_and_an_empty_step_range_draws_nothing():
    t = SAMPLERS.get("temperature")()
    np.testing.assert_allclose(t.probabilities(SIZES, 0, 1), np.sqrt(SIZES) / np.sqrt(SIZES).sum())
    assert t.choices(SIZES, 5, 5, 10, seed=0).shape == (0,)


def _numpy_stream(seed, group, pool, batch, j, lengths=None, bucket=50):
    """Batch j of a group's endless stream, written out: the concatenated per-epoch
    permutations np.random.default_rng([seed, group, epoch]).permutation(n) (each cut into
    windows of ``bucket`` batches sorted by length, longest first), sliced [j B, (j + 1) B)."""
    n = len(pool)
    epochs = []
    for e in range((j + 1) * batch // n + 2):
        perm = np.random.default_rng([seed, group, e]).permutation(n)
        if lengths is not None:
            window = bucket * batch
            for lo in range(0, n, window):
                part = perm[lo : lo + window]
                perm[lo : lo + window] = part[np.argsort(-lengths[pool[part]], kind="stable")]
        epochs.append(perm)
    return pool[np.concatenate(epochs)[j * batch : (j + 1) * batch]]


def test_joint_batches_follow_the_numpy_stream_across_epoch_boundaries():
    split = _hetero_split((7, 5, 9))  # batch 3 does not divide 7, 5 or 9: batches straddle epochs
    plan = BatchPlan(split, ["t0", "t1", "t2"], batch_size=3, mode="joint", seed=11, total_steps=20)
    pools = [np.arange(0, 7), np.arange(7, 12), np.arange(12, 21)]
    for s in [0, 1, 2, 3, 5, 8, 13]:
        rows, mask = plan.step(s)
        expected = np.concatenate([_numpy_stream(11, g, pools[g], 3, s) for g in range(3)])
        np.testing.assert_array_equal(rows, expected)
    np.testing.assert_array_equal(mask, [1, 1, 1])


def test_interleaved_batches_follow_each_task_stream_in_the_order_chosen():
    split = _hetero_split((7, 5, 9))
    sampler = SAMPLERS.get("round_robin")()
    plan = BatchPlan(split, ["t0", "t1", "t2"], 2, "interleaved", sampler, seed=4, total_steps=12)
    assert plan.global_batch_size == 2
    pools = [np.arange(0, 7), np.arange(7, 12), np.arange(12, 21)]
    for s in range(12):  # round robin: step s is task s % 3's (s // 3)-th batch
        rows, mask = plan.step(s)
        np.testing.assert_array_equal(rows, _numpy_stream(4, s % 3, pools[s % 3], 2, s // 3))
        np.testing.assert_array_equal(mask, np.eye(3)[s % 3])
    with pytest.raises(IndexError, match="step 12 is past the planned 12 steps"):
        plan.step(12)


def test_length_buckets_sort_each_window_longest_first_against_numpy():
    n = 23
    lengths = np.random.default_rng(3).integers(1, 40, size=n)
    split = Split(
        {"features": np.arange(n, dtype=np.float32)[:, None], "length": lengths},
        {"t0": np.zeros((n, 1), np.float32)},
        {"t0": np.ones(n, np.float32)},
    )
    import mtlzoo.data.mixing as mixing

    plan = BatchPlan(split, ["t0"], batch_size=2, mode="joint", seed=6, total_steps=30)
    pool = np.arange(n)
    for s in [0, 1, 4, 11, 12, 25]:
        expected = _numpy_stream(6, 0, pool, 2, s, lengths=lengths, bucket=mixing.BUCKET_BATCHES)
        np.testing.assert_array_equal(plan.step(s)[0], expected)
    # with BUCKET_BATCHES = 50 and 23 examples the whole epoch is one window: sorted, longest first
    epoch = np.concatenate([plan.step(s)[0] for s in range(11)])  # 22 of the first epoch's 23
    assert np.all(np.diff(lengths[epoch]) <= 0)


def test_a_small_bucket_window_is_sorted_within_itself_only(monkeypatch):
    import mtlzoo.data.mixing as mixing

    monkeypatch.setattr(mixing, "BUCKET_BATCHES", 2)
    n = 20
    lengths = np.random.default_rng(5).integers(1, 40, size=n)
    split = Split(
        {"features": np.arange(n, dtype=np.float32)[:, None], "length": lengths},
        {"t0": np.zeros((n, 1), np.float32)},
        {"t0": np.ones(n, np.float32)},
    )
    plan = BatchPlan(split, ["t0"], batch_size=3, mode="joint", seed=2, total_steps=30)
    for s in range(14):
        np.testing.assert_array_equal(plan.step(s)[0], _numpy_stream(2, 0, np.arange(n), 3, s, lengths, bucket=2))


def test_bad_plans_name_the_field():
    split = _hetero_split()
    split.weights["t1"][:] = 0
    with pytest.raises(ConfigError, match="task 't1' has no labelled training example"):
        BatchPlan(split, ["t0", "t1", "t2"], 4, "interleaved", SAMPLERS.get("uniform")(), total_steps=3)
    with pytest.raises(ConfigError, match="unknown mixing mode 'mixed'"):
        BatchPlan(split, ["t0", "t1", "t2"], 4, "mixed")


def test_dataset_trims_token_batches_to_their_longest_example():
    n, T = 12, 16
    lengths = np.array([3, 9, 2, 5, 16, 1, 4, 7, 2, 8, 6, 3])
    ids = np.zeros((n, T), np.int32)
    for i, L in enumerate(lengths):
        ids[i, :L] = i + 1
    split = Split(
        {"token_ids": ids, "length": lengths},
        {"t0": np.zeros((n, 1), np.float32), "tag": np.zeros((n, T), np.int32)},
        {"t0": np.ones(n, np.float32), "tag": np.ones(n, np.float32)},
    )
    plan = BatchPlan(split, ["t0", "tag"], batch_size=3, mode="joint", seed=0, total_steps=4)
    for s, (f, _, w) in enumerate(train_dataset(split, plan, ["token_ids"], 0)):
        rows = plan.step(s)[0]
        longest = int(lengths[rows].max())
        width = min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, T)  # rounded up to the padding multiple
        np.testing.assert_array_equal(f["token_ids"].numpy(), ids[rows][:, :width])
        assert "length" not in f  # not a model input: dropped after the cut
        assert w["tag"].shape == (3, 1)  # a tagging task's per-example weight gets a time axis to broadcast
    f, _, _ = next(iter(train_dataset(split, plan, ["token_ids", "length"], 0)))
    np.testing.assert_array_equal(f["length"].numpy(), lengths[plan.step(0)[0]])


def test_token_batches_without_lengths_are_not_trimmed():
    ids = np.zeros((6, 8), np.int32)
    ids[:, :3] = 5
    split = Split({"token_ids": ids}, {"t0": np.zeros((6, 1), np.float32)}, {"t0": np.ones(6, np.float32)})
    plan = BatchPlan(split, ["t0"], batch_size=3, mode="joint", seed=0, total_steps=2)
    for f, _, _ in train_dataset(split, plan, ["token_ids"], 0):
        assert f["token_ids"].shape == (3, 8) and set(f) == {"token_ids"}


def test_dataset_starts_at_step_0_by_default():
    """Without ``start_step`` the dataset yields every planned step from 0: the feature is the
    row index, so each batch must be ``plan.step(s)``'s rows."""
    split = _hetero_split()
    plan = BatchPlan(split, ["t0", "t1", "t2"], 4, "joint", seed=2, total_steps=5)
    batches = [b[0]["features"].numpy()[:, 0] for b in train_dataset(split, plan, ["features"])]
    assert len(batches) == 5
    for s, got in enumerate(batches):
        np.testing.assert_array_equal(got, plan.step(s)[0].astype(np.float32))


def test_bert_inputs_are_all_trimmed_to_the_longest_example():
    """The BERT encoder's three token inputs together (every TOKEN_KEY present) are cut to the
    batch's longest example, rounded up to PAD_MULTIPLE, as numpy slicing gives."""
    n, T = 9, 24
    lengths = np.array([3, 9, 2, 5, 11, 1, 4, 7, 2])
    ids = np.zeros((n, T), np.int32)
    for i, L in enumerate(lengths):
        ids[i, :L] = i + 1
    feats = {"token_ids": ids, "segment_ids": (ids > 0).astype(np.int32), "padding_mask": ids > 0, "length": lengths}
    split = Split(feats, {"t0": np.zeros((n, 1), np.float32)}, {"t0": np.ones(n, np.float32)})
    plan = BatchPlan(split, ["t0"], batch_size=3, mode="joint", seed=1, total_steps=3)
    names = ["token_ids", "segment_ids", "padding_mask"]
    for s, (f, _, _) in enumerate(train_dataset(split, plan, names, 0)):
        rows = plan.step(s)[0]
        width = min(-(-int(lengths[rows].max()) // PAD_MULTIPLE) * PAD_MULTIPLE, T)
        assert set(f) == set(names)
        for k in names:
            np.testing.assert_array_equal(f[k].numpy(), feats[k][rows][:, :width])


def test_a_plan_defaults_to_joint_seed_0_and_one_step():
    split = _hetero_split()
    plan = BatchPlan(split, ["t0", "t1", "t2"], 4)
    assert (plan.mode, plan.seed, plan.total_steps) == ("joint", 0, 1)
    first = np.random.default_rng([0, 0, 0]).permutation(30)[:4]  # group 0 = rows 0..29, seed 0, epoch 0
    np.testing.assert_array_equal(plan.step(0)[0][:4], first)
    sampler = SAMPLERS.get("round_robin")()
    inter = BatchPlan(split, ["t0", "t1", "t2"], 4, "interleaved", sampler)
    inter.step(0)
    with pytest.raises(IndexError, match="past the planned 1 steps"):
        inter.step(1)


def test_the_parallel_gather_keeps_the_step_order():
    """The batches are a function of the step only if the parallel ``gather`` map hands its
    chunks on in order: the dataset's graph must run it with ``deterministic`` true (with
    false, tf.data may pass on whichever chunk finishes first, which no run can rely on)."""
    import tensorflow as tf

    split = _hetero_split()
    plan = BatchPlan(split, ["t0", "t1", "t2"], 4, "joint", seed=2, total_steps=3)
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(train_dataset(split, plan, ["features"])._as_serialized_graph().numpy())
    maps = [n for n in graph.node if n.op.startswith("ParallelMapDataset")]
    assert len(maps) == 1
    assert maps[0].attr["deterministic"].s == b"true"
