"""One step under ``mirrored`` over 2 logical CPU devices equals the single-device reference
step of ``test_step_reference`` (issue 22: the per-replica scalings of the step, e.g. the
layer losses' ``/ num_replicas``, are invisible on one replica). One subprocess runs every
case (tests/training/step_mirrored.py): the CPU must be split before TensorFlow starts."""

import pytest

from tests.helpers import module_results
from tests.training.step_mirrored import CASES


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("step") / "step.json"
    return module_results("tests.training.step_mirrored", out, timeout=600)


@pytest.mark.parametrize("case", list(CASES))
def test_one_mirrored_step_equals_the_single_device_reference(results, case):
    """3 examples per replica; losses over the planned global batch of 6, gradients summed
    over replicas by the optimizer: the weights after the step are the reference's."""
    res = results[case]
    assert res["finite"]
    assert res["loss_diff"] <= 1e-5, res
    assert res["weight_diff"] <= 1e-5, res
