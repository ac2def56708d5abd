import gc
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# A test process holds many TensorFlow and Keras objects, and each full (generation 2) garbage
# collection walks them all: full collections a tenth as often (Python's default third
# threshold is 10) halved the collector's time on the training, model, weighting and layer tests
# (5.6 -> 2.9 s of 102 s CPU) for 3% more peak memory (1,491 -> 1,538 MB). Only the test
# processes: the tools, fork-server children and fresh processes they start keep the default.
gc.set_threshold(700, 10, 100)


def pytest_unconfigure(config):
    """Ends this test process's fork server (tests/helpers.py), if it started one, and waits for
    it: no server outlives the session, and its CPU time counts in the session's own."""
    import sys

    helpers = sys.modules.get("tests.helpers")
    if helpers is not None:
        helpers._FORKS.close()


@pytest.fixture(scope="module")
def serving():
    """The module's fresh serving process (TensorFlow and TF Text only, no mtlzoo:
    :class:`tests.export.common.ServingProcess`), shared by its tests."""
    from tests.export.common import ServingProcess

    with ServingProcess() as p:
        yield p
