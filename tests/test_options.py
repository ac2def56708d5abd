"""The static option tables (mtlzoo/options.py) are the one source of every option schema: the
registries expose those very objects, each check gives the verdict and message written out here
by hand, every default passes its own field; and loading plus checking a config imports no
TensorFlow (issue 22: validation free of TensorFlow imports)."""

import os
import subprocess
import sys
import textwrap

import pytest

from mtlzoo import options
from mtlzoo.errors import ConfigError
from mtlzoo.schema import REQUIRED, check_fields
from tests.helpers import REPO, config_verdicts

# --- one source: the rooms take their schemas from mtlzoo.options ---


def assert_exposes(table, registry):
    """Every registered name has a schema in ``table`` and its class holds that very dict (an
    entry without options may keep its base class's empty one)."""
    assert sorted(table) == registry.names(), f"{registry.kind}: registered names differ from the table"
    for name, cls in registry.items():
        assert cls.schema is table[name] or cls.schema == table[name] == {}, (
            f"{registry.kind} {name}: its schema is not options' table (declared again in the room?)"
        )


def _registries():
    from mtlzoo import data, encoders
    from mtlzoo.data.samplers import SAMPLERS
    from mtlzoo.weighting.aggregators import AGGREGATORS
    from mtlzoo.weighting.weightings import WEIGHTINGS

    return {
        "weighting": WEIGHTINGS,
        "aggregator": AGGREGATORS,
        "sampler": SAMPLERS,
        "data source": data.SOURCES,
        "encoder": encoders.ENCODERS,
    }


@pytest.mark.parametrize("kind", ["weighting", "aggregator", "sampler", "data source", "encoder"])
def test_registries_expose_the_tables_of_options(kind):
    registry = _registries()[kind]
    assert registry.kind == kind
    assert_exposes(options.KINDS[kind], registry)


def test_the_models_and_data_rooms_use_the_tables_of_options():
    from mtlzoo import config, data, encoders
    from mtlzoo.models import builder, soft_sharing

    assert list(options.ARCHITECTURES) == builder.ARCHITECTURES.names()
    assert sorted(options.EXPERTS) == sorted(set(options.ARCHITECTURES) - {"shared_bottom"})
    assert soft_sharing.SCHEMAS is options.EXPERTS
    assert builder.MODEL_SCHEMA is options.MODEL and config.MODEL_SCHEMA is options.MODEL
    assert builder.TOWER_SCHEMA is options.TOWER and config.TOWER_SCHEMA is options.TOWER
    assert data.COMMON_SCHEMA is options.DATA_COMMON
    assert options.ENCODER_PROVIDES == {name: cls.provides for name, cls in encoders.ENCODERS.items()}


def test_a_schema_declared_again_in_a_room_is_caught():
    """The identity check bites: a room's own copy, equal field for field, is refused."""
    from mtlzoo.registry import Registry
    from mtlzoo.schema import Field, positive

    table = {"a": {"t": Field(2.0, float, positive)}, "b": {}}
    reg = Registry("thing")

    @reg.register("a")
    class A:
        schema = table["a"]

    @reg.register("b")
    class B:
        schema = {}

    assert_exposes(table, reg)
    A.schema = {"t": Field(2.0, float, positive)}
    with pytest.raises(AssertionError, match="declared again"):
        assert_exposes(table, reg)
    A.schema = table["a"]
    reg.register("c")(B)
    with pytest.raises(AssertionError, match="registered names differ"):
        assert_exposes(table, reg)


def test_activations_are_the_ones_keras_accepts():
    import keras
    from keras.src.activations import ALL_OBJECTS_DICT

    assert sorted(options.ACTIVATIONS) == sorted(ALL_OBJECTS_DICT)
    for name in options.ACTIVATIONS:
        assert callable(keras.activations.get(name))
    with pytest.raises(ValueError):
        keras.activations.get("relux")


# --- each check against hand-written expectations ---

# rule -> (value, the check's message or None); an int field is asked only the int values
RULES = {
    "> 0": [(1, None), (7, None), (0.5, None), (0, "must be > 0, got 0"), (-3, "must be > 0, got -3"),
            (-1e-9, "must be > 0, got -1e-09")],
    ">= 0": [(0, None), (3, None), (0.0, None), (0.25, None), (-1, "must be >= 0, got -1"),
             (-0.5, "must be >= 0, got -0.5")],
    ">= 2": [(2, None), (30522, None), (1, "must be >= 2, got 1"), (0, "must be >= 2, got 0")],
    ">= 3": [(3, None), (512, None), (2, "must be >= 3, got 2"), (-1, "must be >= 3, got -1")],
    "[0, 1)": [(0, None), (0.0, None), (0.99, None), (1, "must be in [0, 1), got 1"),
               (1.0, "must be in [0, 1), got 1.0"), (-0.1, "must be in [0, 1), got -0.1")],
    "(0, 1]": [(1, None), (1.0, None), (0.5, None), (0, "must be in (0, 1], got 0"),
               (0.0, "must be in (0, 1], got 0.0"), (1.5, "must be in (0, 1], got 1.5")],
    "[0, 1]": [(0, None), (1, None), (1.0, None), (0.5, None), (-0.5, "must be in [0, 1], got -0.5"),
               (1.25, "must be in [0, 1], got 1.25")],
    "every > 0": [([], None), ([1], None), ((3, 4, 5), None), ([0], "every entry must be > 0, got [0]"),
                  ([2, -1], "every entry must be > 0, got [2, -1]"), ((1, 0), "every entry must be > 0, got [1, 0]")],
    "image shape": [([28, 28, 1], None), ((8, 8, 3), None),
                    ([28, 28], "must be [height, width, channels], got [28, 28]"),
                    ([28, 28, 0], "must be [height, width, channels], got [28, 28, 0]"),
                    ((1, 2, 3, 4), "must be [height, width, channels], got [1, 2, 3, 4]")],
    "file entries": [([{"path": "a.csv"}], None), (({"path": "a.csv"},), None), ([], "list one file entry or more"),
                     ({}, "list one file entry or more"), ("a.csv", "list one file entry or more")],
}  # fmt: skip

# the rule of every checked field: by its name or type, then these exceptions
EXCEPTIONS = {
    "aggregator cagrad.c": ">= 0",
    "data source conll2000.max_vocab": ">= 0",
    "data source sentiment.max_vocab": ">= 0",
    "data source synthetic.noise": ">= 0",
    "encoder tagger.dense_layers": ">= 0",
    "model.alignment_penalty": ">= 0",
    "data source digits.label_fraction": "(0, 1]",
    "data source synthetic.label_fraction": "(0, 1]",
    "data source yeast.label_fraction": "(0, 1]",
    "data source synthetic.relatedness": "[0, 1]",
    "experts cross_stitch.alpha_self": "[0, 1]",
    "data source glue_files.max_length": ">= 3",
    "encoder image_cnn.input_shape": "image shape",
    "data source files.files": "file entries",
    **{f"encoder {e}.vocab_size": ">= 2" for e in ("lstm", "tagger", "text_cnn", "text_mlp")},
}
# numeric fields that take any value of their type
UNCHECKED = {"weighting gradnorm.alpha", "sampler proportional.alpha"} | {
    f"encoder {e}.embedding_oov_seed" for e in ("lstm", "tagger", "text_cnn", "text_mlp")
}


def _expected_rule(where, f):
    if where in EXCEPTIONS:
        return EXCEPTIONS[where]
    if where in UNCHECKED:
        return None
    if where.endswith("_fraction") or where.endswith(".dropout"):
        return "[0, 1)"
    return {int: "> 0", float: "> 0", "ints": "every > 0"}.get(f.type)


def _all_fields():
    tables = {"weighting": options.WEIGHTINGS, "aggregator": options.AGGREGATORS, "sampler": options.SAMPLERS}
    tables |= {"data source": options.SOURCES, "encoder": options.ENCODERS, "experts": options.EXPERTS}
    for kind, table in tables.items():
        for name, schema in table.items():
            for key, f in schema.items():
                yield f"{kind} {name}.{key}", f
    for section, schema in (("model", options.MODEL), ("model.tower", options.TOWER), ("data", options.DATA_COMMON)):
        for key, f in schema.items():
            yield f"{section}.{key}", f


def test_every_check_gives_the_written_verdicts_and_messages():
    fields = dict(_all_fields())
    assert len(fields) > 150 and set(EXCEPTIONS) | UNCHECKED <= set(fields)  # no stale name above
    checked = 0
    for where, f in fields.items():
        rule = _expected_rule(where, f)
        assert (f.check is None) == (rule is None), f"{where}: expected rule {rule!r}, check {f.check}"
        if rule is None:
            continue
        for value, message in RULES[rule]:
            if f.type is int and not isinstance(value, int):
                continue
            assert f.check(value) == message, f"{where} ({rule}) of {value!r}"
            checked += 1
    assert checked > 400


def test_a_bad_value_is_named_by_its_field():
    """Through check_fields (what every room runs): one sentence naming the field."""
    cases = [
        (options.ENCODERS["mlp"], {"input_dim": 4, "dropout": 1.0}, "model.encoder",
         "config field model.encoder.dropout: must be in [0, 1), got 1.0"),
        (options.ENCODERS["text_cnn"], {"vocab_size": 1}, "model.encoder",
         "config field model.encoder.vocab_size: must be >= 2, got 1"),
        (options.SOURCES["synthetic"], {"label_fraction": 0.0}, "data",
         "config field data.label_fraction: must be in (0, 1], got 0.0"),
        (options.SOURCES["yeast"], {"corrupt_mode": "swap"}, "data",
         "config field data.corrupt_mode: 'swap' is not one of flip, random"),
        (options.EXPERTS["cross_stitch"], {"alpha_self": 1.5}, "model.experts",
         "config field model.experts.alpha_self: must be in [0, 1], got 1.5"),
        (options.MODEL, {"encoder": {}, "alignment": "both"}, "model",
         "config field model.alignment: 'both' is not one of none, joint, fixed_encoder"),
        (options.AGGREGATORS["cagrad"], {"c": -0.5}, "train.aggregator",
         "config field train.aggregator.c: must be >= 0, got -0.5"),
        (options.DATA_COMMON, {"source": "digits", "batch_size": 0}, "data",
         "config field data.batch_size: must be > 0, got 0"),
    ]  # fmt: skip
    for schema, cfg, field, message in cases:
        with pytest.raises(ConfigError) as e:
            check_fields(cfg, schema, field)
        assert str(e.value) == message


def test_every_default_passes_its_own_field():
    """A default satisfies its field's type, choices and check (a config that sets nothing is valid)."""
    n = 0
    for where, f in _all_fields():
        if f.default is REQUIRED or f.default is None:
            continue
        check_fields({}, {"x": f}, where)
        n += 1
    assert n > 120


# the bad-config cases: a fresh interpreter loads the config file, checks it and must not import TF
_NO_TF = textwrap.dedent(
    """
    import json, sys
    from mtlzoo.config import check_config
    from tests.helpers import config_verdicts
    out = config_verdicts(check_config, sys.argv[1], json.loads(sys.argv[2]))
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

    from mtlzoo.config import resolve_config

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
    assert config_verdicts(resolve_config, path, OVERRIDES) == errors


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
