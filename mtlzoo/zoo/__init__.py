"""The model zoo: trained multi-task models as folders of a zoo root, and fine-tuning.

One module per job; this file re-exports their public names (``from mtlzoo import zoo;
zoo.list()``):

- :mod:`mtlzoo.zoo.catalogue`: where the entries live (``$MTLZOO_HOME``, else a checkout's
  ``saved_models/``) and what each is: ``list``, ``path``, ``info``, ``catalog``, ``known``
  (an entry's ``entry.json``: its packaged config, data, a fine-tuning example).
- :mod:`mtlzoo.zoo.cards`: model cards and score tables: ``render_card``, ``scores_table``,
  ``format_info``, ``entries_table``, ``update_readme``.
- :mod:`mtlzoo.zoo.publishing`: ``publish`` a finished training workdir as an entry.
- :mod:`mtlzoo.zoo.use`: ``load``, ``evaluate``, ``export`` an entry.
- :mod:`mtlzoo.zoo.finetuning`: ``finetune`` (``plan_finetune``, ``apply_plan``, ``ALIGNMENTS``).

An entry has the layout of a training workdir, so every tool that takes a workdir takes an
entry too; :func:`mtlzoo.workdir.load_workdir` (re-exported) loads either.

Example:
    >>> from mtlzoo import zoo
    >>> zoo.list()
    ['conll2000_tagger_pos_chunk', 'sentiment6_lstm_align', 'yeast_mlp_svd']
    >>> print(zoo.format_info(zoo.info("yeast_mlp_svd")))
    >>> model = zoo.load("conll2000_tagger_pos_chunk")
    >>> zoo.evaluate("yeast_mlp_svd")["average"]["auc"]
    >>> zoo.finetune("sentiment6_lstm_align", {"tasks": {"sst5": {...}}, ...}, "/tmp/ft")
    >>> zoo.export("conll2000_tagger_pos_chunk", "/tmp/serving")
"""

from mtlzoo.workdir import load_workdir
from mtlzoo.zoo.cards import (
    entries_table,
    format_info,
    format_score,
    parse_scores_table,
    readme_entries,
    render_card,
    scores_table,
    update_readme,
)
from mtlzoo.zoo.catalogue import (
    CARD_TEMPLATE,
    DEFAULT_ROOT,
    ENTRY_FILES,
    ENTRY_JSON,
    HOME_ENV,
    KNOWN,
    TOKENIZER_FILE,
    VOCAB_FILE,
    Known,
    catalog,
    check_name,
    info,
    known,
    list,  # noqa: A004  (the zoo's public verb)
    path,
    root_dir,
)
from mtlzoo.zoo.finetuning import (
    ALIGNMENTS,
    FINETUNE_SCHEMA,
    PER_TASK_LAYERS,
    apply_plan,
    finetune,
    plan_finetune,
    resolve_pretrained,
)
from mtlzoo.zoo.publishing import publish
from mtlzoo.zoo.use import evaluate, export, load

__all__ = [
    "ALIGNMENTS",
    "CARD_TEMPLATE",
    "DEFAULT_ROOT",
    "ENTRY_FILES",
    "ENTRY_JSON",
    "FINETUNE_SCHEMA",
    "HOME_ENV",
    "KNOWN",
    "PER_TASK_LAYERS",
    "TOKENIZER_FILE",
    "VOCAB_FILE",
    "Known",
    "apply_plan",
    "catalog",
    "check_name",
    "entries_table",
    "evaluate",
    "export",
    "finetune",
    "format_info",
    "format_score",
    "info",
    "known",
    "list",
    "load",
    "load_workdir",
    "parse_scores_table",
    "path",
    "plan_finetune",
    "publish",
    "readme_entries",
    "render_card",
    "resolve_pretrained",
    "root_dir",
    "scores_table",
    "update_readme",
]
