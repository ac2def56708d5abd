"""Every documented field of a config can be overridden from the command line (issue 22.2).

The overrides go through the flag parsing the tools use (``ml_collections.config_flags``
on a ``--config`` file) and then :func:`mtlzoo.config.resolve_config`; one of them trains.
"""

import json
import os

import pytest
from absl import flags
from ml_collections import config_flags

from mtlzoo.config import resolve_config
from tests.helpers import REPO, run_tool

QUICKSTART = os.path.join(REPO, "configs", "quickstart.py")


def parse(*overrides, config=QUICKSTART):
    """The ConfigDict the tools get for ``--config=<file> <overrides>`` (a fresh flag set)."""
    argv = ["prog", f"--config={config}", *overrides]
    fv = flags.FlagValues()
    holder = config_flags.DEFINE_config_file("config", None, "", flag_values=fv, lock_config=False, sys_argv=argv)
    fv(argv)
    return holder.value


def _get(cfg, path):
    for k in path.split("."):
        cfg = cfg[k]
    return cfg


# (overrides, {resolved field: expected value}); the README's training-engine table and the
# model/data/task options its examples use
DOCUMENTED = [
    (["--config.data.mixing=interleaved"], {"data.mixing": "interleaved"}),
    (["--config.data.batch_size=16"], {"data.batch_size": 16}),
    (["--config.data.label_fraction=0.5"], {"data.label_fraction": 0.5}),
    (["--config.data.sampler.name=uniform"], {"data.sampler.name": "uniform"}),
    (["--config.data.sampler.name=proportional", "--config.data.sampler.alpha=0.5"], {"data.sampler.alpha": 0.5}),
    (
        ["--config.data.sampler.name=temperature", "--config.data.sampler.temperature=3"],
        {"data.sampler.temperature": 3.0},
    ),
    (["--config.data.sampler.name=annealed"], {"data.sampler.name": "annealed"}),
    (["--config.data.sampler.name=round_robin"], {"data.sampler.name": "round_robin"}),
    (
        ["--config.train.weighting.name=static", "--config.train.weighting.weights={'digit': 2.0}"],
        {"train.weighting.weights.digit": 2.0},
    ),
    (["--config.train.weighting.name=uncertainty"], {"train.weighting.name": "uncertainty"}),
    (
        ["--config.train.weighting.name=dwa", "--config.train.weighting.temperature=3.0"],
        {"train.weighting.temperature": 3.0},
    ),
    (["--config.train.weighting.name=rlw"], {"train.weighting.name": "rlw"}),
    (
        [
            "--config.train.weighting.name=gradnorm",
            "--config.train.weighting.alpha=1.0",
            "--config.train.weighting.lr=0.01",
        ],
        {"train.weighting.alpha": 1.0, "train.weighting.lr": 0.01},
    ),
    (["--config.train.weighting.name=svd", "--config.train.weighting.rank=2"], {"train.weighting.rank": 2}),
    (["--config.train.aggregator.name=pcgrad"], {"train.aggregator.name": "pcgrad"}),
    (["--config.train.aggregator.name=mgda"], {"train.aggregator.name": "mgda"}),
    (["--config.train.aggregator.name=cagrad", "--config.train.aggregator.c=0.3"], {"train.aggregator.c": 0.3}),
    (["--config.train.aggregator.name=imtl_g"], {"train.aggregator.name": "imtl_g"}),
    (["--config.train.aggregator.name=aligned_mtl"], {"train.aggregator.name": "aligned_mtl"}),
    (["--config.train.per_task_grads=representation"], {"train.per_task_grads": "representation"}),
    (["--config.train.mixed_precision=mixed_float16"], {"train.mixed_precision": "mixed_float16"}),
    (["--config.train.mixed_precision=mixed_bfloat16"], {"train.mixed_precision": "mixed_bfloat16"}),
    (["--config.train.jit_compile=True"], {"train.jit_compile": True}),
    (["--config.train.epochs=3"], {"train.epochs": 3}),
    (["--config.train.clipnorm=1.0"], {"train.clipnorm": 1.0}),
    (["--config.train.steps_per_epoch=7"], {"train.steps_per_epoch": 7}),
    (["--config.train.checkpoint_every_steps=5"], {"train.checkpoint_every_steps": 5}),
    (
        ["--config.train.early_stopping.patience=2"],
        {"train.early_stopping": {"monitor": "val_mean_loss", "patience": 2, "min_delta": 0.0, "mode": "auto"}},
    ),
    (
        ["--config.train.early_stopping.monitor=val_digit_accuracy", "--config.train.early_stopping.mode=max"],
        {"train.early_stopping.monitor": "val_digit_accuracy", "train.early_stopping.mode": "max"},
    ),
    (
        ["--config.train.affinity.every_steps=5"],
        {"train.affinity": {"every_steps": 5, "learning_rate": None}},
    ),
    (["--config.train.select=best", "--config.train.select_monitor=val_mean_accuracy"], {"train.select": "best"}),
    (
        [
            "--config.model.architecture=mmoe",
            "--config.model.experts.num_experts=3",
            "--config.model.experts.units=(16,)",
        ],
        {"model.experts.num_experts": 3, "model.experts.units": [16]},
    ),
    (
        [
            "--config.model.architecture=cgc",
            "--config.model.experts.num_shared_experts=2",
            "--config.model.experts.num_task_experts=2",
        ],
        {"model.experts.num_shared_experts": 2},
    ),
    (["--config.model.architecture=ple", "--config.model.experts.levels=3"], {"model.experts.levels": 3}),
    (
        ["--config.model.architecture=cross_stitch", "--config.model.experts.alpha_self=0.8"],
        {"model.experts.alpha_self": 0.8},
    ),
    (["--config.model.alignment=joint"], {"model.alignment": "joint"}),
    (
        ["--config.model.alignment=fixed_encoder", "--config.train.alignment_epochs=2"],
        {"train.alignment_epochs": 2},
    ),
    (["--config.model.encoder.activation=tanh"], {"model.encoder.activation": "tanh"}),
    (["--config.model.encoder.units=(64,)"], {"model.encoder.units": [64]}),
    (["--config.model.encoder.batch_norm=True"], {"model.encoder.batch_norm": True}),
    (["--config.model.tower.activation=tanh"], {"model.tower.activation": "tanh"}),
    (
        ["--config.tasks.digit.loss=sparse_categorical_crossentropy"],
        {"tasks.digit.loss": "sparse_categorical_crossentropy"},
    ),
    (["--config.tasks.parity.metrics=('accuracy',)"], {"tasks.parity.metrics": ["accuracy"]}),
]


@pytest.mark.parametrize("overrides,expected", DOCUMENTED, ids=[" ".join(o) for o, _ in DOCUMENTED])
def test_every_documented_override_parses_and_resolves(overrides, expected):
    resolved = resolve_config(parse(*overrides))
    for path, value in expected.items():
        got = _get(resolved, path)
        got = got.to_dict() if hasattr(got, "to_dict") else got
        assert (list(got) if isinstance(got, tuple) else got) == value, path


def test_early_stopping_stays_off_until_an_option_is_set():
    assert resolve_config(parse()).train.early_stopping is None
    assert resolve_config(parse()).train.affinity is None
    with pytest.raises(Exception, match="train.early_stopping.patience"):
        resolve_config(parse("--config.train.early_stopping.patience=-1"))


def test_an_unset_option_takes_the_named_entrys_default():
    resolved = resolve_config(parse("--config.train.aggregator.name=cagrad"))
    assert resolved.train.aggregator.to_dict() == {"name": "cagrad", "c": 0.5, "rescale": True, "iterations": 300}


def test_an_option_the_chosen_entry_lacks_is_still_refused():
    from mtlzoo import ConfigError

    with pytest.raises(ConfigError, match="train.aggregator.c: unknown field"):
        resolve_config(parse("--config.train.aggregator.c=0.3"))  # the quickstart's aggregator is sum


def test_overrides_train_through_the_tool(tmp_path):
    r = run_tool(
        "train",
        "--config=configs/quickstart.py",
        f"--workdir={tmp_path}",
        "--config.train.epochs=1",
        "--config.train.steps_per_epoch=3",
        "--config.data.mixing=interleaved",
        "--config.data.sampler.name=temperature",
        "--config.train.aggregator.name=cagrad",
        "--config.train.aggregator.c=0.3",
        "--config.train.weighting.name=dwa",
        "--config.train.weighting.temperature=3.0",
        "--config.model.encoder.activation=tanh",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    with open(tmp_path / "config.json") as f:
        saved = json.load(f)
    assert saved["train"]["aggregator"] == {"name": "cagrad", "c": 0.3, "rescale": True, "iterations": 300}
    assert saved["train"]["weighting"]["temperature"] == 3.0
    assert saved["model"]["encoder"]["activation"] == "tanh"
    assert saved["data"]["mixing"] == "interleaved" and saved["data"]["sampler"]["name"] == "temperature"


def test_an_override_of_a_field_the_config_lacks_is_one_clear_line(tmp_path):
    r = run_tool(
        "train", "--config=configs/quickstart.py", f"--workdir={tmp_path}", "--config.train.label_fractoin=0.5"
    )
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: --config.train.label_fractoin: the config has no field 'label_fractoin' (see the README's training-engine table for the fields)"
    ]
    assert not os.path.exists(tmp_path / "config.json")
