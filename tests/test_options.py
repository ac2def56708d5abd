"""The static option tables (mtlzoo/options.py) equal the registries, and loading plus checking
a config imports no TensorFlow (issue 22: validation free of TensorFlow imports)."""

import os
import subprocess
import sys
import textwrap

import pytest

from mtlzoo import options
from mtlzoo.schema import INT_LIMIT
from tests.helpers import REPO

# values each check is asked about, by field type (a check only sees values of its field's type)
PROBES = {
    int: [-3, -1, 0, 1, 2, 3, 4, 100, INT_LIMIT],
    float: [-1.5, -1, -1e-9, 0, 0.0, 1e-9, 0.25, 0.5, 0.99, 1, 1.0, 1.5, 2, 1e9],
    "ints": [[], [0], [1], [2], [1, 2], [0, 1, 2], [-1, 2, 3], [3, 3, 1], [28, 28, 0], [28, 28, 1], [1, 2, 3, 4]],
    "strs": [[], ["a"], ["a", "b"]],
    str: ["", "a", "relu"],
    bool: [True, False],
    "dict": [{}, {"a": 1}],
    None: [None, 0, 1, -1, "x", [], ["a"], [{}], (), ({"path": "a"},), {}, {"a": 1}],
}


def _verdict(check, value):
    try:
        return ("ok", check(value))
    except Exception as e:  # a check that cannot read the value: the same failure on both sides
        return ("raises", type(e).__name__)


def assert_same_schema(static, live, where):
    assert list(static) == list(live), f"{where}: option names (in order) differ"
    for key, f in live.items():
        s = static[key]
        for attr in ("default", "type", "choices", "optional"):
            assert getattr(s, attr) == getattr(f, attr), (
                f"{where}.{key}: {attr} {getattr(s, attr)!r} != {getattr(f, attr)!r}"
            )
            assert type(getattr(s, attr)) is type(getattr(f, attr)), f"{where}.{key}: {attr} type differs"
        assert (s.check is None) == (f.check is None), f"{where}.{key}: one side has a check, the other not"
        if f.check is not None:
            for value in PROBES[f.type]:
                assert _verdict(s.check, value) == _verdict(f.check, value), f"{where}.{key}: check of {value!r}"


def _registry_tables():
    from mtlzoo import data, encoders
    from mtlzoo.data.samplers import SAMPLERS
    from mtlzoo.weighting.aggregators import AGGREGATORS
    from mtlzoo.weighting.weightings import WEIGHTINGS

    return {
        "weighting": (options.WEIGHTINGS, WEIGHTINGS),
        "aggregator": (options.AGGREGATORS, AGGREGATORS),
        "sampler": (options.SAMPLERS, SAMPLERS),
        "data source": (options.SOURCES, data.SOURCES),
        "encoder": (options.ENCODERS, encoders.ENCODERS),
    }


@pytest.mark.parametrize("kind", ["weighting", "aggregator", "sampler", "data source", "encoder"])
def test_named_tables_equal_the_registries(kind):
    static, registry = _registry_tables()[kind]
    assert sorted(static) == registry.names()
    assert options.KINDS[kind] is static
    for name, cls in registry.items():
        assert registry.kind == kind
        assert_same_schema(static[name], cls.schema, f"{kind} {name}")


def test_model_tables_equal_the_models_room():
    from mtlzoo import data, encoders
    from mtlzoo.models import builder, soft_sharing

    assert list(options.ARCHITECTURES) == builder.ARCHITECTURES.names()
    assert list(options.EXPERTS) == list(soft_sharing.SCHEMAS)
    for arch, schema in soft_sharing.SCHEMAS.items():
        assert_same_schema(options.EXPERTS[arch], schema, f"experts {arch}")
    assert_same_schema(options.MODEL, builder.MODEL_SCHEMA, "model")
    assert_same_schema(options.TOWER, builder.TOWER_SCHEMA, "model.tower")
    assert_same_schema(options.DATA_COMMON, data.COMMON_SCHEMA, "data")
    assert options.ENCODER_PROVIDES == {name: cls.provides for name, cls in encoders.ENCODERS.items()}


def test_activations_are_the_ones_keras_accepts():
    import keras
    from keras.src.activations import ALL_OBJECTS_DICT

    assert sorted(options.ACTIVATIONS) == sorted(ALL_OBJECTS_DICT)
    for name in options.ACTIVATIONS:
        assert callable(keras.activations.get(name))
    with pytest.raises(ValueError):
        keras.activations.get("relux")


def test_a_drifted_table_is_caught():
    """The comparison itself bites: a changed default, choice or check bound is reported."""
    from mtlzoo.schema import Field, positive

    live = {"a": Field(2.0, float, positive), "b": Field("x", str, choices=("x", "y"))}
    assert_same_schema({"a": Field(2.0, float, positive), "b": Field("x", str, choices=("x", "y"))}, live, "t")
    for drifted in (
        {"a": Field(3.0, float, positive), "b": live["b"]},
        {"a": Field(2, float, positive), "b": live["b"]},
        {"a": Field(2.0, float, lambda v: None if v >= 0 else "no"), "b": live["b"]},
        {"a": live["a"], "b": Field("x", str, choices=("x",))},
        {"b": live["b"], "a": live["a"]},
    ):
        with pytest.raises(AssertionError):
            assert_same_schema(drifted, live, "t")


# the bad-config cases: a fresh interpreter loads the config file, checks it and must not import TF
_NO_TF = textwrap.dedent(
    """
    import json, sys
    from mtlzoo.config import check_config, load_config_file
    from mtlzoo.errors import ConfigError
    out = []
    for override in json.loads(sys.argv[2]):
        c = load_config_file(sys.argv[1])
        for path, value in override.items():
            node = c
            *head, last = path.split(".")
            for k in head:
                node = node[k]
            node[last] = value
        try:
            check_config(c)
            out.append(None)
        except ConfigError as e:
            out.append(str(e))
    print(json.dumps({"errors": out, "loaded": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
    """
)

OVERRIDES = [
    {},
    {"train.aggregator.name": "cagrad", "train.aggregator.c": 0.3},
    {"train.aggregator.name": "nope"},
    {"train.aggregator.name": "pcgrad", "train.aggregator.c": 0.3},
    {"train.weighting.name": "dwa", "train.weighting.temperature": -1.0},
    {"data.sampler.name": "temperature"},
    {"data.mixing": "sideways"},
    {"model.encoder.units": [0]},
    {"model.encoder.activation": "relux"},
    {"model.architecture": "mmoe", "model.experts.num_experts": 0},
    {"data.validation_fraction": 1.5},
    {"tasks.digit.kind": "tagging"},
]


def test_loading_and_checking_a_config_imports_no_tensorflow():
    import json

    from mtlzoo.config import load_config_file, resolve_config
    from mtlzoo.errors import ConfigError

    path = os.path.join(REPO, "configs", "quickstart.py")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, "-c", _NO_TF, path, json.dumps(OVERRIDES)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["loaded"] == []
    errors = got["errors"]
    assert errors[0] is None and errors[1] is None and errors[5] is None
    assert all(e is not None for i, e in enumerate(errors) if i not in (0, 1, 5)), errors
    # the same verdict and message as the registries' path (resolve_config, which imports TF)
    for override, static_error in zip(OVERRIDES, errors, strict=True):
        c = load_config_file(path)
        for key, value in override.items():
            node = c
            *head, last = key.split(".")
            for k in head:
                node = node[k]
            node[last] = value
        try:
            resolve_config(c)
            full_error = None
        except ConfigError as e:
            full_error = str(e)
        assert full_error == static_error, override


_WATCH = textwrap.dedent(
    """
    import atexit, runpy, sys
    atexit.register(lambda: print("TF loaded:", "tensorflow" in sys.modules, file=sys.stderr))
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def _run_watched(script, *args):
    """Runs ``script args`` in a fresh interpreter that reports at exit whether TF was imported."""
    return subprocess.run([sys.executable, "-c", _WATCH, script, *args], capture_output=True, text=True, cwd=REPO)


def test_train_tool_refuses_a_bad_config_before_tensorflow(tmp_path):
    """``tools/train.py`` runs ``precheck`` (mtlzoo/cli/train.py) before TensorFlow's import."""
    args = ["--config=" + os.path.join(REPO, "configs", "quickstart.py"), f"--workdir={tmp_path / 'w'}"]
    proc = _run_watched(os.path.join(REPO, "tools", "train.py"), *args, "--config.train.aggregator.name=nope")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: config field train.aggregator.name: unknown aggregator 'nope'"), lines
    assert lines[-1] == "TF loaded: False"
    assert not (tmp_path / "w").exists()


def test_predict_refuses_a_bad_request_and_zoo_lists_before_tensorflow(tmp_path):
    req = tmp_path / "req.json"
    req.write_text("")
    proc = _run_watched(os.path.join(REPO, "tools", "predict.py"), f"--model={tmp_path}", f"--input={req}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"error: --input: {req} is empty: it holds no instances" and lines[-1] == "TF loaded: False"
    main = os.path.join(REPO, "mtlzoo", "__main__.py")
    proc = _run_watched(main, "zoo", "list", f"--root={os.path.join(REPO, 'saved_models')}")
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "TF loaded: False"


def test_a_user_registered_weighting_passes_the_static_check_and_trains_its_options():
    """Registries stay front doors: a weighting registered at run time is not in the static
    table, yet check_config accepts it (its options are checked through the live registry)."""
    from mtlzoo.config import check_config, load_config_file, resolve_config
    from mtlzoo.errors import ConfigError
    from mtlzoo.schema import Field, positive
    from mtlzoo.weighting.weightings import WEIGHTINGS, Weighting

    @WEIGHTINGS.register("user_halves_test")
    class Halves(Weighting):
        schema = {"factor": Field(0.5, float, positive)}

    try:
        c = load_config_file(os.path.join(REPO, "configs", "quickstart.py"))
        c.train.weighting = {"name": "user_halves_test", "factor": 0.25}
        check_config(c)
        assert resolve_config(c).train.weighting.factor == 0.25
        c.train.weighting = {"name": "user_halves_test", "factor": -1.0}  # the live schema still applies
        with pytest.raises(ConfigError, match="train.weighting.factor"):
            resolve_config(c)
        c.train.weighting = {"name": "no_such_weighting"}
        with pytest.raises(ConfigError, match="unknown weighting 'no_such_weighting'"):
            check_config(c)
    finally:
        WEIGHTINGS._items.pop("user_halves_test", None)
