"""TF Serving export: SavedModel layout, a signature per task, raw-string signatures, warmup.

* :func:`export_model` / :func:`export_workdir` write ``export_dir/<model_name>/<version>/``
  atomically (see :mod:`mtlzoo.export.writer`);
* :mod:`mtlzoo.export.signatures`: ``serving_default`` (all tasks) and one signature per
  task, outputs by task kind;
* :mod:`mtlzoo.export.tokenizers`: in-graph tokenizers (``vocab``, ``wordpiece``) for
  raw-string signatures, using only core TF and TF Text ops;
* :mod:`mtlzoo.export.warmup`: ``assets.extra/tf_serving_warmup_requests``;
* :func:`load_predictor`: run an export (or a ``.keras`` file) on TF Serving REST bodies.

Importing this package loads no TensorFlow; the functions import it on first use.
"""

from mtlzoo.export.predictor import Predictor, load_predictor, read_request
from mtlzoo.export.signatures import ServingModule, infer_tasks
from mtlzoo.export.tokenizers import TOKENIZERS, make_tokenizer
from mtlzoo.export.writer import export_model, export_workdir, latest_version_dir, versions

__all__ = [
    "TOKENIZERS",
    "Predictor",
    "ServingModule",
    "export_model",
    "export_workdir",
    "infer_tasks",
    "latest_version_dir",
    "load_predictor",
    "make_tokenizer",
    "read_request",
    "versions",
]
