"""Export a trained multi-task model as a TF Serving SavedModel.

    python tools/export.py --workdir=/tmp/mtlzoo_quickstart --export_dir=/tmp/mtlzoo_serving

writes <export_dir>/<model_name>/<version>/ (saved_model.pb, variables/, assets/,
assets.extra/tf_serving_warmup_requests) atomically, with signatures serving_default
(all tasks) and one per task; text models exported with a tokenizer also get raw-string
signatures "text" and "<task>_text". A BERT run on GLUE's files (data source glue_files) needs
no --tokenizer: the export takes the run's own WordPiece vocabulary, lower-casing and
max_length, adds the sentence-pair signatures "text_pair" and "<task>_text_pair" (inputs
text_a, text_b) and returns label names ("label": entailment / not_entailment) beside the
probabilities.

A full disk or an unwritable --export_dir is one error line (exit 2) and leaves nothing
behind; hidden .tmp-<version>-* directories left by killed exports of the same version
are removed at the next successful export (once untouched for 10 minutes).
"""

from mtlzoo.cli._common import run  # noqa: I001  (quiets TF logging first)
from absl import flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (or saved_models/<name>) to export.")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "TF Serving model base path root: the export goes to <export_dir>/<model_name>/<version>/."
)
_VERSION = flags.DEFINE_integer(
    "version", None, "Positive integer version directory. Default: the highest existing version + 1 (1 if none)."
)
_MODEL_NAME = flags.DEFINE_string(
    "model_name", None, "TF Serving model name (directory under --export_dir). Default: the workdir's base name."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing version directory instead of failing.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Export this checkpoint (epoch number or file) instead of model.keras; see evaluate.py."
)
_TOKENIZER = flags.DEFINE_enum(
    "tokenizer",
    None,
    ["vocab", "wordpiece"],
    "Add raw-string signatures with this in-graph tokenizer: vocab (whitespace split + vocabulary lookup, "
    "for tokens models) or wordpiece (TF Text BERT tokenizer, for bert models). Needs --vocab_file. "
    "Default: <workdir>/tokenizer.json if present, else for a glue_files run the WordPiece tokenizer of its "
    "checkpoint's vocabulary, else none.",
)
_VOCAB_FILE = flags.DEFINE_string(
    "vocab_file", None, "Vocabulary file for --tokenizer, one token per line; line number = token id (0 = padding)."
)
_LOWERCASE = flags.DEFINE_bool("lowercase", True, "Lower-case text before the vocabulary lookup.")
_MAX_LENGTH = flags.DEFINE_integer("max_length", None, "Cut tokenised text to this many tokens (default: the model's).")
flags.mark_flags_as_required(["workdir", "export_dir"])


def _storage_error(e):
    """A full disk or unwritable path: an OSError, or TensorFlow's file errors while saving."""
    if isinstance(e, OSError):
        return True
    import sys

    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(
        e, tf.errors.PermissionDeniedError | tf.errors.ResourceExhaustedError | tf.errors.FailedPreconditionError
    )


def _first_line(e):
    text = (getattr(e, "strerror", None) or getattr(e, "message", None) or str(e) or type(e).__name__).strip()
    return text.splitlines()[0] if text else type(e).__name__


def precheck():
    """The flags and the workdir's existence, before TensorFlow is imported (exit 2 at once)."""
    from mtlzoo import fileio
    from mtlzoo.cli._common import fail

    if (_TOKENIZER.value or _VOCAB_FILE.value) and not (_TOKENIZER.value and _VOCAB_FILE.value):
        fail("--tokenizer and --vocab_file go together")
    if not fileio.isdir(_WORKDIR.value):  # the same checks and words as mtlzoo.export.writer
        fail(f"--workdir: {_WORKDIR.value} does not exist")
    if _VERSION.value is not None and _VERSION.value < 1:
        fail(f"--version: must be a positive integer, got {_VERSION.value!r}")


def main(argv):
    del argv
    import json
    import os

    from mtlzoo.cli._common import fail
    from mtlzoo.export import export_workdir

    tokenizer = None
    if _TOKENIZER.value or _VOCAB_FILE.value:
        if not (_TOKENIZER.value and _VOCAB_FILE.value):
            fail("--tokenizer and --vocab_file go together")
        tokenizer = {
            "name": _TOKENIZER.value,
            "vocab_file": _VOCAB_FILE.value,
            "lowercase": _LOWERCASE.value,
            "max_length": _MAX_LENGTH.value,
        }
    try:
        path = export_workdir(
            _WORKDIR.value,
            _EXPORT_DIR.value,
            version=_VERSION.value,
            model_name=_MODEL_NAME.value,
            overwrite=_OVERWRITE.value,
            checkpoint=_CHECKPOINT.value,
            tokenizer=tokenizer,
        )
        with open(os.path.join(path, "assets.extra", "mtlzoo_export.json")) as f:
            sigs = json.load(f)["signatures"]
    except Exception as e:  # the export is built aside and swapped in: nothing half-written is left
        if not _storage_error(e):
            raise
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        fail(f"cannot write the export under {_EXPORT_DIR.value}: {_first_line(e)}{where}")
    print(f"exported to {path}")
    for name, sig in sigs.items():
        print(f"  signature {name}: inputs {', '.join(sig['inputs'])} -> outputs {', '.join(sig['outputs'])}")


if __name__ == "__main__":
    run(main)
