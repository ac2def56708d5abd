"""Publishing: a finished training workdir becomes a zoo entry, complete or not at all.

Example:
    >>> from mtlzoo import zoo
    >>> zoo.publish("/tmp/mtlzoo_quickstart", "digits_mlp", "my_card.md",
    ...             command="mtlzoo train --config=quickstart --workdir=/tmp/mtlzoo_quickstart")
"""

import json
import os
import shutil
import uuid

from mtlzoo import fileio
from mtlzoo.errors import ConfigError
from mtlzoo.workdir import VOCABULARIES_FILE, load_run_data, without_init_only
from mtlzoo.zoo.cards import read_card, render_card
from mtlzoo.zoo.catalogue import (
    CARD_TEMPLATE,
    ENTRY_JSON,
    TOKENIZER_FILE,
    VOCAB_FILE,
    Known,
    check_name,
    info,
    root_dir,
)


def _portable_config(config_path):
    """The workdir's config.json with machine paths (``data.data_dir``, ``data.nltk_data``) removed,
    so the entry reads its data from ``$MTLZOO_DATA_DIR`` wherever it is used; returns the dropped keys."""
    with open(config_path) as f:
        config = json.load(f)
    data = config.get("data") or {}
    dropped = [k for k in ("data_dir", "nltk_data") if data.get(k)]
    for k in dropped:
        data[k] = None
    fileio.write_json(config, config_path)
    return dropped


def _self_contained(folder):
    """Rewrites ``folder/config.json`` so that the entry needs no file outside itself: the data
    source's ``self_contained`` hook (``glue_files``: the checkpoint's WordPiece vocabulary
    copied in as ``vocab.txt``, lower-casing explicit) and the encoder's
    (:meth:`mtlzoo.encoders.base.Encoder.self_contained`; ``bert``: the checkpoint directory
    replaced by its architecture, the weights being the entry's ``model.keras``; a text
    encoder's word-vector file dropped, :func:`mtlzoo.workdir.without_init_only`). Returns a
    list of what changed, for the log."""
    from mtlzoo.data import SOURCES
    from mtlzoo.encoders import ENCODERS

    path = os.path.join(folder, "config.json")
    with open(path) as f:
        config = json.load(f)
    changed = []
    data = config.get("data") or {}
    source = SOURCES.get(data["source"], "data.source") if isinstance(data.get("source"), str) else None
    if source is not None and hasattr(source, "self_contained"):
        new = source.self_contained(data, folder, VOCAB_FILE)
        changed += [f"data.{k}: {data.get(k)!r} -> {new[k]!r}" for k in new if new[k] != data.get(k)]
        config["data"] = new
    before = (config.get("model") or {}).get("encoder")
    before = dict(before) if isinstance(before, dict) else {}
    config = without_init_only(config)  # a word-vector file: the entry's weights hold its rows
    encoder = (config.get("model") or {}).get("encoder")
    if isinstance(encoder, dict):
        changed += [
            f"model.encoder.{k}: {before[k]!r} -> None (initialisation only: the weights are the entry's model.keras)"
            for k in encoder
            if before.get(k) is not None and encoder[k] is None
        ]
    if isinstance(encoder, dict) and isinstance(encoder.get("name"), str):
        new = ENCODERS.get(encoder["name"], "model.encoder.name").self_contained(encoder, "model.encoder")
        diff = [k for k in new if new[k] != encoder.get(k)]
        if encoder.get("preset") and not new.get("preset"):  # the other fields were ignored beside a preset
            shown = ", ".join(f"{k} {new[k]!r}" for k in diff if k != "preset")
            changed.append(f"model.encoder.preset: {encoder['preset']!r} -> None (its architecture: {shown})")
        else:
            changed += [f"model.encoder.{k}: {encoder.get(k)!r} -> {new[k]!r}" for k in diff]
        config["model"]["encoder"] = new
    if changed:
        fileio.write_json(config, path)
    return changed


def _tokenizer_config(model, config):
    """The in-graph tokenizer config of a text entry (written as ``tokenizer.json``), or None
    when the model takes no token input."""
    from mtlzoo.export.signatures import model_input_specs

    specs = {k: v for k, v in model_input_specs(model).items() if k != "task_id"}
    data = config.data
    if set(specs) == {"tokens"}:
        tok = {"name": "vocab", "vocab_file": VOCAB_FILE, "lowercase": bool(data.get("lowercase", True))}
        if specs["tokens"].shape[1] is None and data.get("max_length"):
            tok["max_length"] = int(data.max_length)
        return tok
    if set(specs) == {"token_ids", "segment_ids", "padding_mask"}:
        lowercase = data.get("lowercase")
        tok = {
            "name": "wordpiece",
            "vocab_file": VOCAB_FILE,
            "lowercase": bool(True if lowercase is None else lowercase),
        }
        if data.get("max_length"):
            tok["max_length"] = int(data.max_length)
        return tok
    return None


def publish(workdir, name, card=None, command=None, root=None, overwrite=False, log=print):
    """Publishes a finished training workdir as zoo entry ``name``; returns the entry's ``info``.

    Copies ``model.keras`` and ``config.json`` (machine paths dropped, see
    :func:`_portable_config`) into a hidden temporary folder beside the target,
    evaluates that copy on the test split (:func:`mtlzoo.evaluation.evaluate`, with the data and
    the model publish has loaded: each is loaded once) into
    ``metrics.json``, writes ``vocab.txt`` (and ``tokenizer.json`` for the raw-string
    export) when the data has a vocabulary (``data.info["vocab"]``), renders the card
    (:func:`~mtlzoo.zoo.cards.render_card`) into ``README.md`` and keeps its template as
    ``card.md``, then renames the folder into place: a failure at any step leaves no entry
    and no temporary folder behind. A known entry's ``entry.json`` (see
    :mod:`mtlzoo.zoo.catalogue`) is carried over into the new entry.

    The entry is self-contained (:func:`_self_contained`): a model built on a pretrained
    checkpoint directory (``bert`` with ``preset``, data ``glue_files`` with ``checkpoint``)
    keeps the checkpoint's vocabulary as ``vocab.txt`` (with a ``wordpiece`` ``tokenizer.json``)
    and its architecture in ``config.json``, so loading, evaluating, exporting and fine-tuning
    the entry never read the checkpoint directory.

    Args:
        workdir: a finished training workdir (``config.json`` and ``model.keras``).
        name: the entry name (see :func:`~mtlzoo.zoo.catalogue.check_name`).
        card: markdown model card template with the line ``<!-- scores -->`` and, when
            ``command`` is given, ``<!-- command -->``; default: the entry's own ``card.md``.
        command: the command that trained the model; default for a known entry:
            ``mtlzoo train --config=<its config> --workdir=<workdir>``.
        root: zoo root (see :func:`~mtlzoo.zoo.catalogue.root_dir`).
        overwrite: replace a published entry (swapped in only once the new one is complete).
        log: progress printer (None: quiet).

    Raises:
        ConfigError: bad name, missing workdir / model / config / card, a card without the
            placeholder, a published entry without ``overwrite``, or any evaluation error.
    """
    from mtlzoo.workdir import read_config

    say = log or (lambda *a: None)
    check_name(name)
    if not fileio.isdir(workdir):  # the workdir may be remote (gs://, ram://); the zoo is local
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    for fname in ("config.json", "model.keras"):
        if not fileio.isfile(os.path.join(workdir, fname)):
            raise ConfigError(None, f"--workdir: {workdir} has no {fname}: is it a finished training workdir?")
    root = root_dir(root)
    target = os.path.join(root, name)
    recipe = Known.read(target) if os.path.isfile(os.path.join(target, ENTRY_JSON)) else None
    if command is None and recipe is not None:
        command = recipe.train_command(workdir)
    if card is None:
        card = os.path.join(target, CARD_TEMPLATE)
    text = read_card(card, command)
    if os.path.isfile(os.path.join(target, "model.keras")) and not overwrite:
        raise ConfigError(None, f"--name: {target} already exists; pass --overwrite to replace it")
    if os.path.exists(target) and not os.path.isdir(target):
        raise ConfigError(None, f"--name: {target} exists and is not a folder")

    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f".tmp-{name}-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(tmp)
        for fname in ("model.keras", "config.json"):
            fileio.copy(os.path.join(workdir, fname), os.path.join(tmp, fname))
        if fileio.isfile(os.path.join(workdir, VOCABULARIES_FILE)):  # a files run: its built vocabularies
            fileio.copy(os.path.join(workdir, VOCABULARIES_FILE), os.path.join(tmp, VOCABULARIES_FILE))
        if recipe is not None:
            shutil.copy2(os.path.join(target, ENTRY_JSON), os.path.join(tmp, ENTRY_JSON))
        fileio.write_text(text, os.path.join(tmp, CARD_TEMPLATE))
        dropped = _portable_config(os.path.join(tmp, "config.json"))
        if dropped:
            say(f"config.json: dropped data.{', data.'.join(dropped)} (the entry reads $MTLZOO_DATA_DIR)")
        for change in _self_contained(tmp):
            say(f"config.json: {change}")
        config = read_config(tmp, validate=False)  # a relative data.vocab_file is the entry's file
        fixed = config.data.get("vocab_file")
        if fixed and os.path.dirname(os.path.abspath(fixed)) != os.path.abspath(tmp):
            say(
                f"warning: config.json keeps data.vocab_file={fixed}: evaluating or fine-tuning the entry "
                "elsewhere needs that file at that path"
            )

        from mtlzoo.data.real import save_vocab
        from mtlzoo.evaluation import _evaluate, format_table, write_json
        from mtlzoo.models import load_model
        from mtlzoo.tasks import tasks_from_config

        say(f"loading the data of {workdir} ({config.data.source})")
        data = load_run_data(config, tasks_from_config(config.tasks), tmp, needs="publish needs data it can reload")
        vocab = (data.info or {}).get("vocab")
        if vocab is not None:
            save_vocab(vocab, os.path.join(tmp, VOCAB_FILE))
        model = None
        if os.path.isfile(os.path.join(tmp, VOCAB_FILE)):  # built here, or copied from a checkpoint
            model = load_model(os.path.join(tmp, "model.keras"))
            tok = _tokenizer_config(model, config)
            if tok is not None:
                from mtlzoo.export.tokenizers import make_tokenizer

                make_tokenizer({**tok, "vocab_file": os.path.join(tmp, VOCAB_FILE)})  # fails now, not at export
                fileio.write_json(tok, os.path.join(tmp, TOKENIZER_FILE))
            with open(os.path.join(tmp, VOCAB_FILE), encoding="utf-8") as f:
                say(f"wrote {VOCAB_FILE} ({sum(1 for _ in f)} tokens)")
        say("evaluating on the test split")
        result = _evaluate(tmp, split="test", write=False, data=data, model=model)  # neither loaded again
        del data, model
        metrics = {k: result[k] for k in ("split", "examples", "tasks", "average")}
        write_json(metrics, os.path.join(tmp, "metrics.json"))
        say(format_table(result))
        with open(os.path.join(tmp, "metrics.json")) as f:
            metrics = json.load(f)  # NaN -> null, as stored
        fileio.write_text(render_card(text, metrics, command), os.path.join(tmp, "README.md"))
        fileio.swap_into_place(tmp, target)  # an existing folder is moved aside, then removed
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    facts = info(name, root)
    say(f"published {target} ({facts['size_bytes'] / 1e6:.1f} MB)")
    return facts
