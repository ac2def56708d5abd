"""Mirrored (2 logical CPUs) and multi-worker (2 local processes) runs equal a single-device run."""

import json
import os
import socket

import numpy as np
import pytest

from tests.helpers import run_tool, start_tool

CONFIG = "--config=tests/training/three_tasks_config.py"


def _weights(workdir):
    from mtlzoo import load_model

    return load_model(os.path.join(workdir, "model.keras")).get_weights()


def _free_ports(n):
    """``n`` distinct free ports: the sockets stay bound until all are chosen, so the kernel
    cannot hand the same port out twice (another xdist worker may be asking at the same time)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("single"))
    r = run_tool("train", CONFIG, f"--workdir={wd}")
    assert r.returncode == 0, r.stderr[-3000:]
    return _weights(wd)


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_mirrored_two_cpu_devices_matches_single_device(single, tmp_path):
    wd = str(tmp_path / "mirrored")
    r = run_tool(
        "train", CONFIG, f"--workdir={wd}", "--strategy=mirrored", "--cpu_devices=2", "--config.train.verbose=2"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "MirroredStrategy with 2 replica(s)" in r.stdout
    _assert_same(single, _weights(wd))


@pytest.mark.slow
def test_multi_worker_two_processes_match_single_device(single, tmp_path):
    wd = str(tmp_path / "mwms")
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        }
        # two processes of their own at once (fork-server children), each with its TF_CONFIG
        procs.append(
            start_tool(
                "train",
                CONFIG,
                f"--workdir={wd}",
                "--strategy=multi_worker_mirrored",
                "--config.train.verbose=2",
                env=env,
            )
        )
    try:
        for p in procs:
            p.wait(300)
    finally:
        for p in procs:
            p.kill()  # only a run still going (past its timeout)
    for p in procs:
        assert p.wait() == 0, p.stderr[-3000:]
    # MultiWorkerMirroredStrategy reports itself as CollectiveAllReduceStrategy
    assert "with 2 replica(s)" in procs[0].stdout
    assert not [d for d in os.listdir(wd) if d.startswith(".state_worker")]  # the worker's scratch state is removed
    _assert_same(single, _weights(wd))
