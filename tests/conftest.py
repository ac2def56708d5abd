import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_unconfigure(config):
    """Ends this test process's fork server (tests/helpers.py), if it started one, and waits for
    it: no server outlives the session, and its CPU time counts in the session's own."""
    import sys

    helpers = sys.modules.get("tests.helpers")
    if helpers is not None:
        helpers._FORKS.close()
