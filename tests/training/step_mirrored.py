"""One TrainLoop step under ``mirrored`` over 2 logical CPU devices (3 examples per replica)
against the single-device reference of ``test_step_reference`` (one tape over the whole batch
of 6, written-out losses over the planned global batch, explicit aggregation coefficients,
one SGD step). Run as a script (``python -m tests.training.step_mirrored OUT.json``): the CPU
must be split before TensorFlow starts. Writes, per case, the largest absolute difference of
the weights after the step from the reference, and of the reported per-task losses."""

import json
import sys

import numpy as np

# name -> (aggregator coefficients or None for the plain sum, per_task_grads, l2 on the first
# shared kernel, weighting)
STATIC = ("static", [2.0, 0.5, 1.0])
CASES = {
    "sum-l2": (None, "params", 0.1, STATIC),
    "rows-params": ([1.0, 2.0, -0.5], "params", 0.0, STATIC),
    "rows-representation": ([1.0, 2.0, -0.5], "representation", 0.0, STATIC),
    # total = sum_i 0.5 exp(-s_i) L_i + 0.5 sum_i s_i (s = 0): task weights 0.5, and the
    # regulariser is global (once over the replicas): d total / d s_i = 0.5 - 0.5 L_i
    "uncertainty-sum": (None, "params", 0.0, ("uncertainty", [0.5, 0.5, 0.5])),
}


def _case(strategy, coefs, mode, l2, weighting):
    import tensorflow as tf

    from mtlzoo.weighting.aggregators import build_aggregator
    from tests.training.test_step_reference import LR, NAMES, B, Rows, _reference, _setup

    name, task_weights = weighting
    weighting_cfg = {"name": name}
    if name == "static":
        weighting_cfg["weights"] = dict(zip(NAMES, task_weights, strict=True))
    aggregator = build_aggregator({"name": "sum"}) if coefs is None else Rows(coefs)
    ref_model, _, x, y, w = _setup(weighting_cfg, aggregator, mode, l2=l2)  # the default strategy
    ref_losses, ref_after = _reference(ref_model, x, y, w, task_weights, coefs or [1.0, 1.0, 1.0], l2=l2)
    model, loop, x2, _, _ = _setup(weighting_cfg, aggregator, mode, l2=l2, strategy=strategy)
    assert loop.plain_sum == (coefs is None) and loop.rep_grad == (mode == "representation" and coefs is not None)
    # the same seed: the same initial weights and batch
    start_diff = max(
        float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), ref_model.get_weights(), strict=True)
    )
    assert start_diff == 0.0 and np.array_equal(x, x2), start_diff
    ds = tf.data.Dataset.from_tensor_slices(({"features": x}, y, w)).batch(B).repeat()
    losses, finite = loop.run(iter(strategy.experimental_distribute_dataset(ds)), 1)
    if name == "uncertainty":
        ref_after = ref_after + [-LR * (0.5 - 0.5 * ref_losses)]  # the log variances s_i
    got = model.get_weights() + [v.numpy() for v in loop.weighting.trainable_variables]
    assert len(got) == len(ref_after)
    return {
        "finite": finite,
        "loss_diff": float(np.max(np.abs(losses - ref_losses))),
        "weight_diff": max(
            float(np.max(np.abs(np.asarray(a, np.float64) - b))) for a, b in zip(got, ref_after, strict=True)
        ),
    }


def main(out):
    from mtlzoo.training.strategy import configure_cpu_devices, get_strategy

    configure_cpu_devices(2)
    strategy = get_strategy("mirrored")  # one instance for every case (collective keys)
    assert strategy.num_replicas_in_sync == 2
    results = {name: _case(strategy, *case) for name, case in CASES.items()}
    with open(out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
