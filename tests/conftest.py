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

# A full collection also walks every object that survived the ones before it (TensorFlow's and
# Keras' modules, traced functions kept in caches, module-scoped fixtures), and Keras'
# clear_session(), which the studies call before every sub-run, runs one: 55 of them cost 19.6
# CPU-s of tests/studies' 114 (0.36 s each). After a test during which a full collection ran,
# the young generations are collected and every object left is moved to the collector's
# permanent generation (gc.freeze), so the next full collection walks only what came after:
# 19.6 -> 1.8 s in tests/studies (user CPU 114 -> 94 s; peak memory 1.58 -> 1.67 GB), 7.2 -> 2.4 s
# in tests/training, tests/models and tests/weighting (peak memory 2.59 -> 2.61 GB). What is
# frozen is never collected as a cycle again: old garbage of an earlier test stays allocated.
_FULL_COLLECTIONS = [0]


def _count_full_collections(phase, info):
    if phase == "stop" and info["generation"] == 2:
        _FULL_COLLECTIONS[0] += 1


gc.callbacks.append(_count_full_collections)


def pytest_runtest_logfinish(nodeid, location):
    """Freezes what survived the test's full collections (see above): after its teardown."""
    if _FULL_COLLECTIONS[0]:
        _FULL_COLLECTIONS[0] = 0
        gc.collect(1)
        gc.freeze()


def _exit_without_teardown():
    """A pytest-xdist worker's last exit step: its results are reported and every library's exit
    handler has run (registered after this one, so run before it: TensorFlow's removal of
    AutoGraph's temporary files, multiprocessing's joins, ...); what is left is the interpreter's
    teardown of TensorFlow and Keras objects, which took 7-8 s at the end of a full suite run
    while the session waited for it."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def pytest_configure(config):
    """In a pytest-xdist worker process itself (not a pytest it starts, which inherits its
    environment), :func:`_exit_without_teardown` is its last exit handler: registered here,
    before any test imports a library that registers one."""
    if hasattr(config, "workerinput"):
        import atexit

        atexit.register(_exit_without_teardown)


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
