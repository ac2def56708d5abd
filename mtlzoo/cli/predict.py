"""Per-task predictions from an exported SavedModel or a .keras model, printed as JSON.

    python tools/predict.py --model=/tmp/mtlzoo_serving/mtlzoo_quickstart --input=request.json [--task=digit]

--input is a JSON-lines file (one instance per line) or a TF Serving REST body:
{"instances": [{"features": [...]}, ...]} or {"inputs": {"features": [[...], ...]}}.

A request is all or nothing: a JSON-lines file is one batch, and a line that is not valid
JSON or an instance the model cannot take (a wrong shape or type, a missing input, NaN,
Infinity or a number beyond the input's dtype such as 1e400) fails the whole file with one
error line naming the line and the input (exit 2); no predictions are printed. Fix or drop
the line and rerun. A UTF-8 byte-order mark is accepted; other encodings are refused.
"""

from mtlzoo.cli._common import run  # noqa: I001  (quiets TF logging first)
from absl import flags

_MODEL = flags.DEFINE_string(
    "model",
    None,
    "A SavedModel version directory, a model directory <export_dir>/<model_name> (its highest version is used), "
    "or a .keras file (its task kinds come from the config.json beside it, else from the model).",
)
_INPUT = flags.DEFINE_string(
    "input",
    None,
    'Request file: JSON lines (one instance per line) or a TF Serving REST body {"instances": [...]} / '
    '{"inputs": {...}}, optionally with "signature_name". Raw strings use the text signature. '
    "One bad line fails the whole file, naming the line (no partial output).",
)
_TASK = flags.DEFINE_string(
    "task", None, "Only this task (its own signature, with task_id fixed inside). Default: all tasks."
)
flags.mark_flags_as_required(["model", "input"])


_REQUEST = []


def precheck():
    """Reads the request file before TensorFlow is imported: a missing, empty, non-UTF-8 or
    not-JSON file exits with 2 at once (mtlzoo.export.predictor imports no TensorFlow)."""
    from mtlzoo.export.predictor import read_request

    _REQUEST.append(read_request(_INPUT.value))


def main(argv):
    del argv
    import json

    from mtlzoo.export import load_predictor, read_request

    body = _REQUEST[0] if _REQUEST else read_request(_INPUT.value)  # a bad request fails before the model loads
    predictor = load_predictor(_MODEL.value)
    print(json.dumps(predictor.predict(body, task=_TASK.value)))


if __name__ == "__main__":
    run(main)
