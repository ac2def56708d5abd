"""The task simulator's generator: noisy channel, AMI mapping, slices, base corpora (the grid study: tests/studies)."""

import os

import numpy as np
import pytest

from mtlzoo.data import simulator as sim
from mtlzoo.errors import ConfigError


@pytest.fixture(scope="module")
def corpus():
    return sim.hmm_corpus(pool_tokens=60_000, test_tokens=3_000, seed=3)


def closed_form_nmi(p, m):
    """MI(Y; Y') / mean(H(Y), H(Y')) of the joint p_i M_ij: the large-sample limit of AMI."""
    joint = p[:, None] * m
    q = joint.sum(0)
    nz = joint > 0
    mi = np.sum(joint[nz] * np.log(joint[nz] / (p[:, None] * q[None, :])[nz]))
    h = -np.sum(p[p > 0] * np.log(p[p > 0]))
    hq = -np.sum(q[q > 0] * np.log(q[q > 0]))
    return mi / (0.5 * (h + hq))


# ------------------------------------------------------------------------------ channel


@pytest.mark.parametrize("d,alpha", [(2, 0.5), (5, 0.0), (9, 1 / 9), (9, 0.73), (23, 1.0)])
def test_channel_matrix_is_row_stochastic(d, alpha):
    m = sim.channel_matrix(d, alpha)
    assert m.shape == (d, d)
    assert (m >= 0).all()
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(m), alpha)
    off = m[~np.eye(d, dtype=bool)]
    np.testing.assert_allclose(off, (1 - alpha) / (d - 1))


def test_channel_alpha_one_over_d_is_uniform():
    np.testing.assert_allclose(sim.channel_matrix(4, 0.25), np.full((4, 4), 0.25))


@pytest.mark.parametrize("bad", [-0.1, 1.5, "x"])
def test_channel_rejects_bad_alpha(bad):
    with pytest.raises(ConfigError, match="alpha"):
        sim.channel_matrix(3, bad)


@pytest.mark.parametrize("use_matrix", [False, True])
def test_sampled_transitions_match_the_matrix(use_matrix):
    d, alpha, n = 5, 0.6, 200_000
    rng = np.random.default_rng(0)
    y = rng.integers(0, d, n)
    m = sim.channel_matrix(d, alpha)
    if use_matrix:
        z = sim.apply_channel(y, d, matrix=m, rng=1)
    else:
        z = sim.apply_channel(y, d, alpha=alpha, rng=1)
    counts = np.zeros((d, d))
    np.add.at(counts, (y, z), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), m, atol=0.01)


def test_channel_keeps_shape_and_checks_labels():
    y = np.array([[0, 1], [2, 1]])
    assert sim.apply_channel(y, 3, alpha=1.0, rng=0).tolist() == y.tolist()
    with pytest.raises(ConfigError, match="label ids"):
        sim.apply_channel(np.array([3]), 3, alpha=0.5)
    with pytest.raises(ConfigError, match="exactly one"):
        sim.apply_channel(y, 3)


# ------------------------------------------------------------------------------ AMI


def test_alpha_one_gives_ami_one_and_one_over_d_gives_zero(corpus):
    y = corpus.pool_labels[:50_000]
    d = corpus.num_labels
    assert sim.alpha_to_ami(y, 1.0, d) == pytest.approx(1.0, abs=1e-12)
    for seed in range(3):
        assert abs(sim.alpha_to_ami(y, 1 / d, d, seed=seed)) < 0.01


def test_ami_increases_with_alpha_and_matches_closed_form():
    d, n = 6, 100_000
    p = np.array([0.6, 0.2, 0.08, 0.06, 0.04, 0.02])
    y = np.random.default_rng(5).choice(d, n, p=p)
    alphas = [1 / d, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0]
    amis = [sim.alpha_to_ami(y, a, d, seed=100 + i) for i, a in enumerate(alphas)]  # independent draws
    assert all(b > a for a, b in zip(amis, amis[1:], strict=False)), amis
    p_emp = np.bincount(y, minlength=d) / n
    for a, v in zip(alphas, amis, strict=True):
        assert v == pytest.approx(closed_form_nmi(p_emp, sim.channel_matrix(d, a)), abs=0.01)


def test_alpha_for_ami_hits_the_target_on_fresh_draws(corpus):
    y = corpus.pool_labels[:40_000]
    d = corpus.num_labels
    prev = 1 / d
    for target in (0.1, 0.3, 0.6, 0.9):
        alpha, achieved = sim.alpha_for_ami(y, target, d, seed=0)
        assert achieved == pytest.approx(target, abs=1e-3)
        assert alpha > prev  # the inverse mapping is monotone too
        prev = alpha
        assert sim.alpha_to_ami(y, alpha, d, seed=99) == pytest.approx(target, abs=0.02)
    assert sim.alpha_for_ami(y, 1.0, d)[0] == 1.0
    with pytest.raises(ConfigError, match="mutual_info"):
        sim.alpha_for_ami(y, 1.2, d)


# ------------------------------------------------------------------------------ corpora and slices


def test_hmm_corpus_is_valid_bio(corpus):
    names = corpus.label_names
    assert names == ["O", "B-PER", "B-ORG", "B-LOC", "B-MISC", "I-PER", "I-ORG", "I-LOC", "I-MISC"]
    assert len(corpus.tokens) == len(corpus.labels) == corpus.lengths.sum() == 63_000
    assert corpus.tokens.min() >= 1 and corpus.tokens.max() < corpus.vocab_size
    starts = np.concatenate([[0], np.cumsum(corpus.lengths)[:-1]])
    prev = np.concatenate([[0], corpus.labels[:-1]])
    prev[starts] = 0  # O before every sentence
    tags = np.array(names, dtype=object)
    is_i = np.char.startswith(tags[corpus.labels].astype(str), "I-")
    prev_type = np.array([t[2:] for t in tags[prev]])
    cur_type = np.array([t[2:] for t in tags[corpus.labels]])
    assert not np.any(is_i & (prev_type != cur_type)), "an I- tag continues nothing"
    frac_entity = np.mean(corpus.labels != 0)
    assert 0.1 < frac_entity < 0.4
    again = sim.hmm_corpus(pool_tokens=60_000, test_tokens=3_000, seed=3)
    np.testing.assert_array_equal(again.tokens, corpus.tokens)
    other = sim.hmm_corpus(pool_tokens=60_000, test_tokens=3_000, seed=4)
    assert not np.array_equal(other.tokens, corpus.tokens)


def test_hmm_corpus_rejects_a_too_small_vocabulary():
    with pytest.raises(ConfigError, match="vocab_size"):
        sim.hmm_corpus(pool_tokens=100, test_tokens=10, vocab_size=300)


def test_task_slices_are_disjoint_and_contiguous():
    bounds = sim.task_slices(10_000, [700, 300, 300, 300], offset=1234)
    assert [b - a for a, b in bounds] == [700, 300, 300, 300]
    assert bounds[0][0] == 1234
    for (_, end), (start, _) in zip(bounds, bounds[1:], strict=False):
        assert end == start  # end to end: contiguous and disjoint
    covered = np.zeros(10_000, int)
    for a, b in bounds:
        covered[a:b] += 1
    assert covered.max() == 1
    with pytest.raises(ConfigError, match="pool has"):
        sim.task_slices(1000, [600, 600])


def test_simulated_tasks_balanced_unbalanced_and_labels(corpus):
    t = sim.simulate_tasks(corpus, 4, n_main=900, n_aux=250, alpha=1.0, seed=1, max_tasks=6)
    sizes = [s.stop - s.start for s in t.slices]
    assert sizes == [900, 250, 250, 250] and t.n_tokens_total == 1650
    assert [s.name for s in t.slices] == ["main", "aux_1", "aux_2", "aux_3"]
    ranges = [set(range(s.start, s.stop)) for s in t.slices]
    assert sum(map(len, ranges)) == len(set().union(*ranges))
    assert max(s.stop for s in t.slices) <= corpus.pool_tokens  # never the test region
    for s in t.slices:  # alpha = 1 copies the main labels
        np.testing.assert_array_equal(s.labels, corpus.labels[s.start : s.stop])
    assert t.ami == pytest.approx([1.0, 1.0, 1.0])
    noisy = sim.simulate_tasks(corpus, 3, 500, alpha=1 / 9, seed=1)
    assert [s.stop - s.start for s in noisy.slices] == [500, 500, 500]
    np.testing.assert_array_equal(noisy.slices[0].labels, corpus.labels[noisy.slices[0].start : noisy.slices[0].stop])
    assert all(abs(a) < 0.05 for a in noisy.ami)


def test_main_slice_is_the_same_for_every_task_count(corpus):
    off = sim.layout_offset(corpus.pool_tokens, 400, 400, 6, rng=11)
    mains = [sim.simulate_tasks(corpus, T, 400, alpha=0.5, seed=T, offset=off).slices[0] for T in (1, 3, 6)]
    assert len({(m.start, m.stop) for m in mains}) == 1


def test_pad_pieces_round_trip():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, 50)
    values = rng.integers(1, 100, lengths.sum())
    rows = sim.pad_pieces(values, lengths, 16)
    assert rows.shape[1] == 16
    np.testing.assert_array_equal(rows[rows != 0], values)  # row-major order keeps the sequence
    assert rows.shape[0] == np.sum(-(-lengths // 16))


def test_to_task_data_has_the_shared_batch_shape(corpus):
    t = sim.simulate_tasks(corpus, 3, 400, n_aux=200, alpha=0.8, seed=2)
    data = sim.to_task_data(corpus, t, max_length=16, test_tokens=1000)
    train, test = data.split("train"), data.split("test")
    tid = train.features["task_id"]
    for i, name in enumerate(["main", "aux_1", "aux_2"]):
        w = train.weights[name]
        np.testing.assert_array_equal(w, (tid == i).astype(np.float32))
        assert (train.labels[name][tid != i] == 0).all()
        assert (train.features["tokens"][tid == i] != 0).sum() == (400 if i == 0 else 200)
    assert (test.features["tokens"] != 0).sum() == 1000
    assert test.weights["main"].min() == 1 and test.weights["aux_1"].max() == 0
    np.testing.assert_array_equal(data.info["test_gold"], corpus.labels[corpus.pool_tokens : corpus.pool_tokens + 1000])


# ------------------------------------------------------------------------------ real corpora


def _data_dir():
    d = os.environ.get("MTLZOO_DATA_DIR")
    if not d:
        pytest.skip("MTLZOO_DATA_DIR is not set: the CoNLL corpora are not available")
    return d


def test_conll2000_chunks_read_with_nltk():
    c = sim.conll_corpus("conll2000", _data_dir())
    # CoNLL-2000 train: 8,936 sentences, 211,727 tokens (shared task description)
    assert c.pool_tokens == 211_727
    assert len(c.lengths) == 8936 + 2012
    assert c.label_names[0] == "O" and "B-NP" in c.label_names and "I-VP" in c.label_names
    t = sim.simulate_tasks(c, 2, 1000, alpha=1.0, seed=0)
    assert t.ami == pytest.approx([1.0])


def test_conll2002_ner_read_with_nltk():
    c = sim.conll_corpus("conll2002", _data_dir(), language="esp")
    assert sorted(c.label_names) == sorted(
        ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    )
    assert len(c.lengths) > 8000 and c.tokens.min() >= 1
    with pytest.raises(ConfigError, match="language"):
        sim.conll_corpus("conll2002", _data_dir(), language="fr")


def test_missing_corpus_directory_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="simulator.data_dir"):
        sim.conll_corpus("conll2000", str(tmp_path))
