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

# The test files that took longest (over 19 s of one worker each in the idle suite run at
# 592bb49, docs/testing.md), longest first. They are dealt out to the workers before every
# other file: pytest-xdist's ``--dist loadfile`` hands out whole files in order, and one long
# file dealt out last leaves the other worker idle until it ends. A stale list costs balance,
# never a test.
LONG_FILES = (
    "tests/training/test_engine_mirrored.py",
    "tests/training/test_fit_door.py",
    "tests/data/test_files_arrow.py",
    "tests/zoo/test_glue5_minilm.py",
    "tests/training/test_engine.py",
    "tests/tools/test_own_data_doc.py",
    "tests/zoo/test_saved_models.py",
    "tests/data/test_files_shards.py",
    "tests/bench/test_glue_finetune.py",
    "tests/models/test_soft_sharing.py",
    "tests/data/test_files_tfrecord.py",
    "tests/export/test_text_pairs.py",
    "tests/studies/test_glue_study.py",
    "tests/zoo/test_portable_entry.py",
    "tests/training/test_resume.py",
    "tests/studies/test_affinity_study.py",
    "tests/training/test_step_reference.py",
    "tests/export/test_saved_model.py",
    "tests/bench/test_files_scale.py",
    "tests/data/test_files.py",
)


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
    """Under pytest-xdist, files are dealt out in collection order (:func:`pytest_collection_modifyitems`),
    not by xdist's default (files with the most tests first). In a worker process itself (not a
    pytest it starts, which inherits its environment), :func:`_exit_without_teardown` is its
    last exit handler: registered here, before any test imports a library that registers one."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    if hasattr(config, "workerinput"):
        import atexit

        atexit.register(_exit_without_teardown)


def pytest_collection_modifyitems(config, items):
    """:data:`LONG_FILES` first, longest first; every other file after them in collection order
    (a stable sort: the tests of a file keep their order)."""
    rank = {f: i for i, f in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
