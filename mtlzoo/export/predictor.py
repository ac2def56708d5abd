"""Predictions from an export or a ``.keras`` file for JSON requests in TF Serving's REST format.

Requests (what ``POST /v1/models/<name>:predict`` takes):

* row format ``{"instances": [{"features": [...]}, ...]}`` (or bare values when the
  signature has one input, e.g. raw strings for a text signature);
* column format ``{"inputs": {"features": [[...], ...]}}`` (or a bare batch);
* optional ``"signature_name"``; a JSON-lines file is a list of instances.

Responses: ``{"signature_name": ..., "predictions": [{task: {output: value}}, ...]}``,
one entry per instance, grouped by task (outputs as in
:mod:`mtlzoo.export.signatures`).

Bad requests raise :class:`ConfigError` naming what is wrong: an unknown task or
signature, an unknown or missing input, a wrong dtype or shape, an empty batch.

Example:
    >>> p = load_predictor("/tmp/serving/quickstart")        # latest version
    >>> p.predict({"instances": [{"features": [0.0] * 64}]}, task="digit")
    {'signature_name': 'digit', 'predictions': [{'digit': {'class_ids': 0, ...}}]}
"""

import json
import math
import os

import numpy as np

from mtlzoo.errors import ConfigError
from mtlzoo.export.signatures import PAIR_INPUTS, PAIR_SIGNATURE, TEXT_INPUT, split_output_name
from mtlzoo.export.writer import METADATA_FILE


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class Request(dict):
    """A request body read from a file; ``lines[i]`` is the file line of instance ``i``
    (JSON lines), so errors name the line instead of the index."""

    lines = None


def _decode(data, path):
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Notepad) is accepted and dropped
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            None, f"--input: {path} line {line} is not UTF-8 text (byte 0x{data[e.start]:02x}); save it as UTF-8"
        ) from e


def _loads(text):
    """``json.loads`` whose failures are one sentence (a nesting too deep for the parser included)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, (e.lineno, f"{e.msg} at column {e.colno}")
    except RecursionError:
        return None, (1, "nested too deeply")


def _plain(value):
    """A JSON-able Python value of one output row (string outputs, e.g. ``label``, decoded)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if np.ndim(value) == 0:
        return value.item()
    if getattr(value, "dtype", None) is not None and value.dtype.kind == "O":
        return [_plain(v) for v in value]
    return value.tolist()


def read_request(path):
    """Reads ``--input``: a JSON request body or a JSON-lines file of instances (one per line).

    A JSON-lines file is one request: a line that is not valid JSON, or an instance that the
    model cannot take, fails the whole file with an error naming the line (no predictions
    are printed). A leading UTF-8 byte-order mark is accepted.

    Raises:
        ConfigError: missing, empty or non-UTF-8 file, invalid JSON (naming the line).
    """
    if not os.path.isfile(path):
        raise ConfigError(None, f"--input: {path} does not exist")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(None, f"--input: {path} cannot be read ({e.strerror})") from e
    text = _decode(data, path)
    if not text.strip():
        raise ConfigError(None, f"--input: {path} is empty: it holds no instances")
    body, err = _loads(text)
    if err is None:
        if isinstance(body, dict) and ({"instances", "inputs"} & set(body)):
            return Request(body)
        return Request({"instances": body if isinstance(body, list) else [body]})
    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    first, first_err = _loads(lines[0][1])
    if first_err is not None and len(lines) > 1:  # not JSON lines: one JSON document with an error in it
        raise ConfigError(None, f"--input: {path} line {err[0]} is not valid JSON ({err[1]})")
    instances, numbers = [], []
    for i, line in lines:
        value, line_err = _loads(line)
        if line_err is not None:
            raise ConfigError(None, f"--input: {path} line {i} is not valid JSON ({line_err[1]})")
        instances.append(value)
        numbers.append(i)
    request = Request({"instances": instances})
    request.lines = numbers
    return request


def _kind(v):
    if isinstance(v, bool):
        return "true/false"
    if v is None:
        return "null"
    return {str: "a string", dict: "an object", list: "a list"}.get(type(v), "a number")


def _shape_of(x, depth):
    """The nested-list shape of ``x`` down to ``depth`` levels (first elements only), for messages."""
    shape = []
    while isinstance(x, list) and len(shape) < depth:
        shape.append(len(x))
        x = x[0] if x else None
    return shape


def _example_problem(x, shape, dtype):
    """None when ``x`` is a nested list of ``shape`` (None: any length) holding finite numbers
    that fit ``dtype``; else what is wrong, in a few words."""
    target = np.dtype(dtype)
    integer = np.issubdtype(target, np.integer)
    info = np.iinfo(target) if integer else np.finfo(target)
    lo, hi = (int(info.min), int(info.max)) if integer else (float(info.min), float(info.max))
    level = [x]
    for depth, want in enumerate(shape):
        lengths = set()
        nxt = []
        for v in level:
            if not isinstance(v, list):
                return f"expected nested lists of shape {_dims(shape)} per example, got {_kind(v)} at depth {depth}"
            lengths.add(len(v))
            nxt.extend(v)
        if len(lengths) > 1:
            return f"rows of different lengths {sorted(lengths)} at depth {depth}"
        got = lengths.pop() if lengths else 0
        if want is not None and got != want:
            return f"expected shape {_dims(shape)} per example, got {_shape_of(x, len(shape) + 1)}"
        level = nxt
    for v in level:
        if isinstance(v, list):
            return f"expected shape {_dims(shape)} per example, got {_shape_of(x, len(shape) + 1)}"
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"must hold numbers ({dtype}), got {_kind(v)}"
        if isinstance(v, float) and not math.isfinite(v):
            return f"holds the non-finite number {v}; inputs must be finite"
        if integer and isinstance(v, float):
            return f"must hold integers ({dtype}), got floats"
        if not (lo <= v <= hi):
            text = repr(v)
            return f"value {text if len(text) < 24 else text[:12] + '...'} is out of the {dtype} range"
    return None


def _dims(shape):
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


class Predictor:
    """Runs the serving signatures of an export (or of a ``.keras`` model) on JSON requests.

    Attributes:
        signatures: ``{name: {"inputs": {input: (dtype name, shape)}, "tasks": [...], "prefixed": bool}}``.
        task_names: the model's tasks.
    """

    def __init__(self, signatures, task_names, runner, source):
        self.signatures = signatures
        self.task_names = list(task_names)
        self._run = runner
        self.source = source

    # -- choosing the signature --------------------------------------------------------
    @staticmethod
    def _text_mode(body):
        """``"pair"`` (objects with ``text_a``/``text_b``), ``"text"`` (raw strings) or None."""
        if "instances" in body:
            inst = body["instances"]
            first = inst[0] if isinstance(inst, list) and inst else None
            if isinstance(first, dict) and set(first) & set(PAIR_INPUTS) and set(first) <= set(PAIR_INPUTS):
                return "pair"
            text = isinstance(first, str) or (isinstance(first, dict) and set(first) == {TEXT_INPUT})
            return "text" if text else None
        inputs = body.get("inputs")
        if isinstance(inputs, dict):
            if set(inputs) & set(PAIR_INPUTS) and set(inputs) <= set(PAIR_INPUTS):
                return "pair"
            return "text" if set(inputs) == {TEXT_INPUT} else None
        return "text" if isinstance(inputs, list) and bool(inputs) and isinstance(inputs[0], str) else None

    def choose_signature(self, body, task=None):
        requested = body.get("signature_name")
        if requested is not None and not isinstance(requested, str):
            raise ConfigError(None, f"signature_name: must be a string, got {_kind(requested)}")
        if task is not None and task not in self.task_names:
            raise ConfigError(
                None, f"--task: unknown task {task!r}; the model has {', '.join(self.task_names) or 'no named tasks'}"
            )
        if requested is not None:
            if requested not in self.signatures:
                raise ConfigError(
                    None,
                    f"signature_name: unknown signature or task {requested!r} in the request; "
                    f"the model has {', '.join(self.signatures)}",
                )
            if task is not None and task not in self.signatures[requested]["tasks"]:
                raise ConfigError(
                    None, f"--task: the request asks for signature {requested!r}, which has no task {task!r}"
                )
            return requested
        mode = self._text_mode(body)
        base = {"text": TEXT_INPUT, "pair": PAIR_SIGNATURE}.get(mode)
        if base is not None and base not in self.signatures:
            what = "raw-string pair signature (text_pair)" if mode == "pair" else "raw-string signature"
            raise ConfigError(
                None,
                f"--input: the request holds raw text but the model has no {what} "
                "(export it with a tokenizer, or send token ids)",
            )
        if task is None:
            return base or "serving_default"
        if base is None:
            return task
        name = f"{task}_{base}"
        if name not in self.signatures:
            other = [s for s in (f"{task}_{TEXT_INPUT}", f"{task}_{PAIR_SIGNATURE}") if s in self.signatures]
            raise ConfigError(
                None,
                f"--task: task {task!r} has no {name!r} signature"
                + (
                    f"; it takes {other[0]!r} ({'a sentence pair' if other[0].endswith(PAIR_SIGNATURE) else 'one text'})"
                    if other
                    else ""
                ),
            )
        return name

    # -- request -> arrays ---------------------------------------------------------------
    def columns(self, body, signature):
        """The request as ``{input: ndarray}`` checked against the signature's inputs.

        Every example is checked before the batch is built: an error names the instance
        (``instances[i]``, ``inputs example i``, or the file line for a JSON-lines
        :class:`Request`) and the input."""
        specs = self.signatures[signature]["inputs"]
        names = list(specs)
        if not isinstance(body, dict) or not ({"instances", "inputs"} & set(body)):
            raise ConfigError(None, '--input: the request must be {"instances": [...]} or {"inputs": ...}')
        lines = getattr(body, "lines", None)
        if "instances" in body:
            inst = body["instances"]
            if not isinstance(inst, list):
                raise ConfigError(None, "instances: must be a list")
            if not inst:
                raise ConfigError(None, "empty batch: the request has no instances")
            where = (lambda i: f"line {lines[i]}") if lines else (lambda i: f"instances[{i}]")
            if all(isinstance(x, dict) for x in inst):
                for i, x in enumerate(inst):
                    self._check_keys(set(x), names, signature, where(i))
                cols = {n: [x[n] for x in inst] for n in names}
            elif len(names) == 1 and not any(isinstance(x, dict) for x in inst):
                cols = {names[0]: inst}
            else:
                want_dict = len(names) > 1 or isinstance(inst[0], dict)
                bad = next(i for i, x in enumerate(inst) if isinstance(x, dict) != want_dict)
                raise ConfigError(
                    None,
                    f"{where(bad)}: signature {signature!r} takes "
                    + (
                        f"named inputs {', '.join(names)}; send objects"
                        if len(names) > 1
                        else "one input; send all instances as objects or all as bare values"
                    ),
                )
        else:
            inputs = body["inputs"]
            where = lambda i: f"inputs example {i}"  # noqa: E731
            if isinstance(inputs, dict):
                self._check_keys(set(inputs), names, signature, "inputs")
                cols = {n: inputs[n] for n in names}
            elif len(names) == 1:
                cols = {names[0]: inputs}
            else:
                raise ConfigError(None, f"inputs: signature {signature!r} takes named inputs {', '.join(names)}")
        arrays = {n: self._array(n, cols[n], *specs[n], where) for n in names}
        sizes = {len(a) for a in arrays.values()}
        if len(sizes) > 1:
            raise ConfigError(None, f"inputs have different batch sizes {sorted(sizes)}")
        if sizes == {0}:
            raise ConfigError(None, "empty batch: the request has no examples")
        return arrays

    @staticmethod
    def _check_keys(keys, names, signature, where):
        unknown = sorted(keys - set(names))
        if unknown:
            raise ConfigError(
                None, f"{where}: {unknown[0]!r} is not an input of signature {signature!r}; it takes {', '.join(names)}"
            )
        missing = [n for n in names if n not in keys]
        if missing and set(names) == set(PAIR_INPUTS):
            raise ConfigError(
                None,
                f"{where}: signature {signature!r} takes a sentence pair (text_a and text_b); "
                f"the request has no {missing[0]!r}",
            )
        if missing:
            raise ConfigError(None, f"{where}: missing input {missing[0]!r} of signature {signature!r}")

    @staticmethod
    def _array(name, values, dtype, shape, where=lambda i: f"instances[{i}]"):
        """One input column (a list with one entry per example) as an array of ``dtype``
        (a name: float32, int32, string, ...); ``where(i)`` names example ``i`` in errors."""
        if not isinstance(values, list):
            raise ConfigError(None, f"input {name}: must be a list with one entry per example, got {_kind(values)}")
        if not values:
            raise ConfigError(None, "empty batch: the request has no examples")
        if dtype == "string":
            for i, v in enumerate(values):
                if not isinstance(v, str):
                    raise ConfigError(None, f"{where(i)}: input {name}: must be a string, got {_kind(v)}")
            return np.array(values, dtype=object)
        for i, v in enumerate(values):
            problem = _example_problem(v, shape[1:], dtype)
            if problem:
                raise ConfigError(None, f"{where(i)}: input {name}: {problem}")
        first = _shape_of(values[0], len(shape) - 1)
        for i, v in enumerate(values):
            if _shape_of(v, len(shape) - 1) != first:
                raise ConfigError(
                    None,
                    f"{where(i)}: input {name}: shape {_shape_of(v, len(shape) - 1)} differs from the first "
                    f"example's {first}; examples of one request must have one shape (pad them)",
                )
        return np.asarray(values, dtype=np.dtype(dtype))

    # -- running -------------------------------------------------------------------------
    def run(self, signature, arrays):
        """Runs a signature on ``{input: ndarray}``; returns ``{output: ndarray}``."""
        try:
            return {k: np.asarray(v) for k, v in self._run(signature, arrays).items()}
        except ConfigError:
            raise
        except Exception as e:  # e.g. InvalidArgumentError: a token id beyond the vocabulary
            raise ConfigError(None, f"--input: the model rejected the request: {_first_line(e)}") from e

    def group(self, signature, outputs):
        """Per-example rows ``[{task: {output: value}}]`` from a signature's flat outputs."""
        sig = self.signatures[signature]
        n = len(next(iter(outputs.values())))
        rows = [{} for _ in range(n)]
        for key in sorted(outputs):
            if sig["prefixed"]:
                split = split_output_name(key, sig["tasks"])
                task, out = split if split else (None, key)
            else:
                task, out = (sig["tasks"][0] if len(sig["tasks"]) == 1 else None), key
            for i, value in enumerate(outputs[key]):
                value = _plain(value)
                if task is None:
                    rows[i][out] = value
                else:
                    rows[i].setdefault(task, {})[out] = value
        return rows

    def predict(self, body, task=None):
        """Predictions for a request body (dict); see the module doc."""
        if not isinstance(body, dict):
            raise ConfigError(None, '--input: the request must be {"instances": [...]} or {"inputs": ...}')
        signature = self.choose_signature(body, task)
        arrays = self.columns(body, signature)
        return {"signature_name": signature, "predictions": self.group(signature, self.run(signature, arrays))}


def _savedmodel_dir(path):
    from mtlzoo.export.writer import latest_version_dir

    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    latest = latest_version_dir(path)
    if latest and os.path.isfile(os.path.join(latest, "saved_model.pb")):
        return latest
    return None


def _load_savedmodel(path):
    """A Predictor for an export. With mtlzoo's metadata (``assets.extra/mtlzoo_export.json``)
    requests are checked before TensorFlow loads the model; otherwise it loads first."""
    meta_path = os.path.join(path, "assets.extra", METADATA_FILE)
    meta = {}
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    state = {}

    def loaded():
        if "model" not in state:
            import tensorflow as tf

            try:
                import tensorflow_text  # noqa: F401  (registers the ops of raw-string signatures)
            except ImportError:
                pass
            try:
                state["model"] = tf.saved_model.load(path)
            except Exception as e:
                raise ConfigError(
                    None, f"--model: {path} could not be loaded as a SavedModel ({_first_line(e)})"
                ) from e
        return state["model"]

    if meta.get("signatures"):
        inputs = {
            name: {k: (v["dtype"], tuple(v["shape"])) for k, v in sig["inputs"].items()}
            for name, sig in meta["signatures"].items()
        }
        tasks = {name: sig["tasks"] for name, sig in meta["signatures"].items()}
    else:
        sigs = loaded().signatures
        inputs = {
            name: {k: (v.dtype.name, tuple(v.shape)) for k, v in sorted(fn.structured_input_signature[1].items())}
            for name, fn in sigs.items()
        }
        tasks = {name: [] for name in sigs}
    signatures = {
        name: {
            "inputs": inputs[name],
            "tasks": tasks[name],
            "prefixed": meta["signatures"][name].get(
                "prefixed", len(tasks[name]) != 1 or name in ("serving_default", TEXT_INPUT, PAIR_SIGNATURE)
            )
            if meta.get("signatures")
            else len(tasks[name]) != 1 or name in ("serving_default", TEXT_INPUT, PAIR_SIGNATURE),
        }
        for name in inputs
    }

    def runner(signature, arrays):
        import tensorflow as tf

        fn = loaded().signatures[signature]
        return fn(**{k: tf.constant(v) for k, v in arrays.items()})

    return Predictor(signatures, sorted(meta.get("tasks", {})), runner, path)


def _load_keras(path):
    import tensorflow as tf

    from mtlzoo.export.signatures import ServingModule
    from mtlzoo.models import load_model
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import read_config

    model = load_model(path)
    config_dir = os.path.dirname(os.path.abspath(path))
    tasks = None
    config_path = os.path.join(config_dir, "config.json")
    if os.path.isfile(config_path):
        raw = read_config(config_dir, validate=False).to_dict()  # only its tasks are used here
        try:
            tasks = tasks_from_config(raw["tasks"])
        except ConfigError as e:
            raise ConfigError(None, f"{config_path}: {e}") from e
        except Exception as e:  # no tasks, or tasks of the wrong type
            raise ConfigError(
                None, f"{config_path}: its tasks are invalid ({type(e).__name__}: {_first_line(e)})"
            ) from e
    module = ServingModule(model, tasks)
    fns = module.signatures()
    desc = module.describe()["signatures"]
    signatures = {
        name: {
            "inputs": {s.name: (s.dtype.name, tuple(s.shape)) for s in specs},
            "tasks": desc[name]["tasks"],
            "prefixed": name == "serving_default",
        }
        for name, (fn, specs) in fns.items()
    }

    def runner(signature, arrays):
        fn, specs = fns[signature]
        return fn(*[tf.constant(arrays[s.name]) for s in specs])

    return Predictor(signatures, module.task_names, runner, path)


def load_predictor(path):
    """A :class:`Predictor` for a SavedModel version directory, a model directory
    (``export_dir/<model_name>``: its highest version) or a ``.keras`` file."""
    if path.endswith(".keras"):
        return _load_keras(path)
    if not os.path.exists(path):
        raise ConfigError(None, f"--model: {path} does not exist")
    sm = _savedmodel_dir(path) if os.path.isdir(path) else None
    if sm is None:
        raise ConfigError(
            None,
            f"--model: {path} is neither a SavedModel directory, a model directory with versions, nor a .keras file",
        )
    return _load_savedmodel(sm)
