"""Using a published entry: load its Keras model, score it, export it for TF Serving.

An entry has the layout of a training workdir, so these are the workdir functions
(:mod:`mtlzoo.workdir`, :mod:`mtlzoo.evaluation`, :mod:`mtlzoo.export`) applied to the
entry's folder (:func:`~mtlzoo.zoo.catalogue.path`).

Example:
    >>> from mtlzoo import zoo
    >>> model = zoo.load("conll2000_tagger_pos_chunk")
    >>> zoo.evaluate("yeast_mlp_svd")["average"]["auc"]
    >>> zoo.export("conll2000_tagger_pos_chunk", "/tmp/serving")
"""

import os

from mtlzoo.zoo.catalogue import path


def load(name, root=None, compile=False):
    """Loads entry ``name``'s Keras model (safe mode)."""
    from mtlzoo.models import load_model

    return load_model(os.path.join(path(name, root), "model.keras"), compile=compile)


def evaluate(name, split="test", root=None):
    """Scores entry ``name`` on a split of its data (``mtlzoo.evaluation.evaluate``, nothing written).

    On the test split this reproduces the entry's ``metrics.json``."""
    from mtlzoo.evaluation import evaluate as evaluate_workdir

    return evaluate_workdir(path(name, root), split=split, write=False)


def export(name, export_dir, version=None, root=None, overwrite=False, model_name=None, tokenizer=None):
    """Exports entry ``name`` for TF Serving under ``export_dir/<model_name or name>/<version>``.

    ``tokenizer``: None takes the entry's ``tokenizer.json`` (text entries: the ``vocab``
    tokenizer over the entry's ``vocab.txt``, so TF Serving also takes raw strings in the
    ``text`` / ``<task>_text`` signatures); a config mapping
    (``mtlzoo.export.tokenizers``) replaces it; False exports the token-id signatures only.
    Every export keeps the token-id signatures (``serving_default``, one per task).
    """
    from mtlzoo.export import export_model, export_workdir

    entry = path(name, root)
    if tokenizer is not False:
        return export_workdir(
            entry,
            export_dir,
            version=version,
            model_name=model_name or name,
            overwrite=overwrite,
            tokenizer=tokenizer,
        )
    from mtlzoo.tasks import tasks_from_config
    from mtlzoo.workdir import load_workdir

    model, config, source = load_workdir(entry)
    return export_model(
        model,
        export_dir,
        model_name or name,
        version=version,
        tasks=tasks_from_config(config.tasks),
        overwrite=overwrite,
        metadata={"source": os.path.abspath(source)},
    )
