"""The performance suites (sharing, roofline, pipeline) in quick mode on tiny sizes.

No timing assertions: the rows' structure, the FLOP counts against hand counts, the
parameter/memory comparison against closed forms, and that ratios are computed.
"""

import math

import pytest

from bench import pipeline, roofline, sharing
from mtlzoo.models import build_model


def _mlp(tasks, input_dim, units, tower):
    return build_model(
        {
            "tasks": {t: {"kind": "binary"} for t in tasks},
            "model": {"encoder": {"name": "mlp", "input_dim": input_dim, "units": units}, "tower": {"units": tower}},
        }
    )


def test_forward_flops_mlp_matches_hand_count():
    model = _mlp(["a", "b"], 8, [4, 3], [2])
    # encoder 8->4->3, then per task 3->2 (tower) and 2->1 (output): 2*m*n*k each
    hand = 2 * 10 * (8 * 4 + 4 * 3 + 2 * (3 * 2 + 2 * 1))
    assert roofline.forward_flops(model, 10) == hand
    assert roofline.train_flops(model, 10) == 3 * hand


def test_forward_flops_transformer_matches_hand_count():
    b, t, d, f = 3, 6, 8, 16
    model = build_model(
        {
            "tasks": {"y": {"kind": "binary"}},
            "model": {
                "encoder": {
                    "name": "bert",
                    "vocab_size": 50,
                    "num_layers": 1,
                    "num_heads": 2,
                    "hidden_dim": d,
                    "intermediate_dim": f,
                    "max_sequence_length": t,
                },
                "tower": {"units": []},
            },
        }
    )
    # Q, K, V, output projections (d x d each) and the FFN (d x f, f x d) at every token,
    # Q K^T and A V (t x t x d per example), the pooler (d x d) and the output (d x 1)
    hand = 2 * b * t * (4 * d * d + 2 * d * f) + 2 * 2 * b * t * t * d + 2 * b * d * d + 2 * b * d
    assert roofline.forward_flops(model, b, t) == hand


def test_weight_bytes_is_four_bytes_per_float32_parameter():
    model = _mlp(["a"], 5, [3], [])
    assert sharing.weight_bytes(model) == 4 * ((5 * 3 + 3) + (3 * 1 + 1))


def test_sharing_quick_rows():
    rows = sharing.run(quick=True, ks=(1, 2), encoders=("mlp",))
    for phase in ("train", "predict"):
        for k in (1, 2):
            params = {"encoder": "mlp", "k": k, "batch": 16, "phase": phase}
            mtl = [r for r in rows if r["name"] == f"{phase}_mtl" and r["params"] == params]
            stl = [r for r in rows if r["name"] == f"{phase}_stl_x{k}" and r["params"] == params]
            assert len(mtl) == len(stl) == 1
            assert mtl[0]["speedup"] > 0 and math.isfinite(mtl[0]["speedup"])
            lo, hi = mtl[0]["speedup_range"]
            assert lo <= mtl[0]["speedup"] <= hi
            assert mtl[0]["inputs_per_s"] == pytest.approx(1 / mtl[0]["median"])
    mem = {(r["name"], r["params"]["k"]): r for r in rows if r["unit"] in ("params", "bytes")}
    # one single-task model is the one-task model: no saving at k = 1
    assert mem[("params", 1)]["saving"] == pytest.approx(1.0)
    # k = 2: the encoder once plus two heads, versus two encoders and two heads
    enc = sharing.encoder_config("mlp", quick=True)
    sizes = [enc["input_dim"], *enc["units"]]
    encoder = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
    head = sizes[-1] * 32 + 32 + 32 + 1
    assert mem[("params", 2)]["median"] == encoder + 2 * head
    assert mem[("params", 2)]["stl_total"] == 2 * (encoder + head)
    assert mem[("serving_bytes", 2)]["median"] == 4 * (encoder + 2 * head)


def test_roofline_quick_rows():
    rows = roofline.run(quick=True)
    peak = rows[0]
    assert peak["name"] == "peak" and peak["flops_per_s"] > 0
    mfu = rows[1:]
    assert {(r["params"]["model"], r["params"]["jit"]) for r in mfu} == {
        ("mlp_large", False),
        ("mlp_large", True),
        ("bert_small", False),
    }
    for r in mfu:
        assert r["mfu"] > 0 and r["mfu_range"][0] <= r["mfu"] <= r["mfu_range"][1]
        assert r["flops_per_s"] == pytest.approx(r["flops_per_step"] / r["median"])
    # quick MLP 32 -> 64 -> 64 -> 1, batch 8: 3 x 2 x 8 x (32*64 + 64*64 + 64)
    first = next(r for r in mfu if r["params"] == {**r["params"], "model": "mlp_large", "batch": 8})
    assert first["flops_per_step"] == 3 * 2 * 8 * (32 * 64 + 64 * 64 + 64)


def test_pipeline_quick_rows():
    rows = pipeline.run(quick=True)
    stages = ["input", "input_chunked", "generator", "from_generator", "model", "end_to_end"]
    for mode in ("joint", "interleaved"):
        group = [r for r in rows if r["params"]["mode"] == mode]
        assert [r["name"] for r in group] == stages
        model = group[4]
        assert model["headroom"] == pytest.approx(1.0)
        for r in group:
            assert r["headroom"] == pytest.approx(r["per_s"] / model["per_s"])
            assert r["params"]["batch"] == 16


def test_plan_of_own_data_draws_each_batch_from_one_task():
    split, plan = pipeline.make_plan(pipeline.make_split(200, own_data=True), "interleaved", 8, 20)
    for s in range(20):
        r, mask = plan.step(s)
        (t,) = mask.nonzero()[0]
        assert (split.features["task_id"][r] == t).all()


def test_chunked_prototype_yields_the_batches_of_train_dataset():
    import numpy as np

    from mtlzoo.data.mixing import train_dataset

    split, plan = pipeline.make_plan(pipeline.make_split(100, own_data=True), "interleaved", 8, 30)
    ref = list(train_dataset(split, plan, ["features"]))
    got = list(pipeline.chunked_dataset(split, plan, ["features"], chunk=7))
    assert len(got) == len(ref) == 30
    for (f1, y1, w1), (f2, y2, w2) in zip(ref, got, strict=True):
        np.testing.assert_array_equal(f1["features"], f2["features"])
        for t in y1:
            np.testing.assert_array_equal(y1[t], y2[t])
            np.testing.assert_array_equal(w1[t], w2[t])
