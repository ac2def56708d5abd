"""The model zoo: trained multi-task models in ``saved_models/<name>/``, and fine-tuning.

An entry has the layout of a training workdir (so every tool that takes a workdir
takes an entry too)::

    saved_models/<name>/
        model.keras     the trained model
        config.json     its resolved config (tasks, data, model, train)
        metrics.json    its test-split scores (``mtlzoo.evaluation.evaluate``)
        README.md       model card: data, intended use, scores, the command that trained it
        vocab.txt       text models: the vocabulary (line number = token id)
        tokenizer.json  text models: the in-graph tokenizer ``export`` uses for raw strings

Entries are made by :func:`publish` (``tools/publish.py``) from a finished training
workdir. ``KNOWN`` names the entries the project ships and the command that builds
each, so that a missing one is reported with that command. The root is
``$MTLZOO_ZOO_DIR`` if set, else the repository's ``saved_models/``; every function
also takes ``root=``.

Example:
    >>> from mtlzoo import zoo
    >>> zoo.list()
    ['conll2000_tagger_pos_chunk', ...]
    >>> print(zoo.format_info(zoo.info("yeast_mlp_svd")))
    >>> model = zoo.load("conll2000_tagger_pos_chunk")
    >>> zoo.evaluate("yeast_mlp_svd")["average"]["auc"]
    >>> zoo.finetune("sentiment6_lstm_align", {"tasks": {"sst5": {...}}, ...}, "/tmp/ft")
    >>> zoo.export("conll2000_tagger_pos_chunk", "/tmp/serving")
"""

import fnmatch
import glob
import json
import math
import os
import re
import shutil
import uuid

from mtlzoo.errors import ConfigError
from mtlzoo.fileio import swap_into_place
from mtlzoo.registry import Registry
from mtlzoo.schema import Field, check_fields

DEFAULT_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
ENTRY_FILES = ("model.keras", "config.json", "metrics.json", "README.md")
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
SCORES_PLACEHOLDER = "<!-- scores -->"
COMMAND_PLACEHOLDER = "<!-- command -->"
VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"


class Known:
    """An entry the project ships: what it is and the config that trains it.

    ``data`` names the data directory (or file) the entry needs, relative to ``$MTLZOO_DATA_DIR``
    (None: the data ships inside a Python package). ``finetune`` is a small
    fine-tuning config for the entry (a new task or a subset of its tasks) that the
    entry's README and tests use.
    """

    def __init__(self, description, config, card, data=None, finetune=None):
        self.description = description
        self.config = config
        self.card = card
        self.data = data
        self.finetune = finetune or {}

    def command(self, name, workdir=None):
        """The shell commands that train and publish the entry."""
        workdir = workdir or f"/tmp/mtlzoo_zoo/{name}"
        return (
            f"python tools/train.py --config={self.config} --workdir={workdir} && "
            f"python tools/publish.py --workdir={workdir} --name={name} --card={self.card}"
        )

    def to_dict(self, name):
        return {
            "description": self.description,
            "config": self.config,
            "card": self.card,
            "data": self.data,
            "command": self.command(name),
        }


# The entries of issue #8; their configs and card templates live in configs/ and saved_models/cards/.
KNOWN = {
    "sentiment6_lstm_align": Known(
        "The six sentence classification tasks of Wu, Zhang & Re (2020) (mr, subj, cr, mpqa, trec, sst2) "
        "on one shared BiLSTM, with the per-task covariance alignment R_i between embedding and LSTM.",
        "configs/sentiment.py:lstm,align",
        "saved_models/cards/sentiment6_lstm_align.md",
        data="sentiment",
        finetune={"tasks": {"sst5": {"kind": "multiclass", "num_classes": 5}}, "finetune": {"freeze": "encoder"}},
    ),
    "conll2000_tagger_pos_chunk": Known(
        "Part-of-speech tagging and chunking of CoNLL-2000 (WSJ) on one shared BiLSTM tagger.",
        "configs/conll2000_tagger.py",
        "saved_models/cards/conll2000_tagger_pos_chunk.md",
        data="nltk_data/corpora/conll2000.zip",
        finetune={"tasks": {"chunk": {"kind": "tagging", "num_classes": 24}}, "finetune": {"freeze": "encoder"}},
    ),
    "yeast_mlp_svd": Known(
        "The 14 Yeast gene-function labels as binary tasks on one shared MLP, trained with SVD task "
        "reweighting (Wu, Zhang & Re 2020, Algorithm 2).",
        "configs/yeast_mlp_svd.py",
        "saved_models/cards/yeast_mlp_svd.md",
        finetune={
            "tasks": {"label_0": {"kind": "binary"}, "label_1": {"kind": "binary"}},
            "finetune": {"freeze": "encoder"},
        },
    ),
}


def root_dir(root=None):
    """The zoo directory: ``root``, else ``$MTLZOO_ZOO_DIR``, else the repository's ``saved_models/``."""
    return root or os.environ.get("MTLZOO_ZOO_DIR") or DEFAULT_ROOT


def list(root=None):  # noqa: A001  (the zoo's public verb)
    """Names of the zoo's entries (directories holding a ``model.keras``), sorted."""
    root = root_dir(root)
    if not os.path.isdir(root):
        return []
    return sorted(
        d for d in os.listdir(root) if not d.startswith(".") and os.path.isfile(os.path.join(root, d, "model.keras"))
    )


def check_name(name, field="--name"):
    """ConfigError unless ``name`` is a valid entry name (letters, digits, ``_ . -``; 64 at most)."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(
            None,
            f"{field}: {name!r} is not a zoo entry name (letters, digits, '_', '.', '-'; starts with a letter "
            "or digit; 64 characters at most)",
        )
    return name


def path(name, root=None):
    """The directory of entry ``name``; ConfigError listing the entries (or naming the command
    that builds a known entry) if there is none."""
    root = root_dir(root)
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise ConfigError(None, f"--pretrained: {name!r} is not a zoo entry name")
    entry = os.path.join(root, name)
    if not os.path.isfile(os.path.join(entry, "model.keras")):
        if name in KNOWN:
            raise ConfigError(
                None,
                f"--pretrained: zoo entry {name!r} is not published in {root}; build it with: "
                + KNOWN[name].command(name),
            )
        names = list(root)
        raise ConfigError(
            None,
            f"--pretrained: no zoo entry {name!r} in {root}; entries: {', '.join(names) if names else 'none'}",
        )
    return entry


def card_description(card):
    """The first paragraph of a model card after its title, as one line ('' if none)."""
    lines, started = [], False
    for line in (card or "").splitlines():
        text = line.strip()
        if not started:
            if not text or text.startswith("#") or text.startswith("<!--"):
                continue
            started = True
        if not text or text.startswith("#") or text.startswith("```") or text.startswith("|"):
            break
        lines.append(text)
    return " ".join(lines)


def info(name, root=None):
    """An entry's facts.

    Returns ``{"name", "path", "description", "tasks": {task: {"kind", "num_classes"}},
    "data": source name, "scores": {task: {metric: value}}, "average": {metric: value},
    "examples", "size_bytes", "vocab": path or None, "known": KNOWN facts or None,
    "config", "metrics", "card"}`` (missing parts are None). The description is the
    card's first paragraph, else ``KNOWN``'s.
    """
    entry = path(name, root)

    def read(fname, parse):
        p = os.path.join(entry, fname)
        if not os.path.isfile(p):
            return None
        with open(p, encoding="utf-8") as f:
            return parse(f)

    config = read("config.json", json.load)
    metrics = read("metrics.json", json.load)
    card = read("README.md", lambda f: f.read())
    known = KNOWN[name].to_dict(name) if name in KNOWN else None
    tasks = None
    if config and config.get("tasks"):
        tasks = {t: {"kind": s.get("kind"), "num_classes": s.get("num_classes")} for t, s in config["tasks"].items()}
    size = sum(
        os.path.getsize(os.path.join(entry, f))
        for f in (*ENTRY_FILES, VOCAB_FILE, TOKENIZER_FILE)
        if os.path.isfile(os.path.join(entry, f))
    )
    return {
        "name": name,
        "path": entry,
        "description": card_description(card) or (known or {}).get("description") or "",
        "tasks": tasks,
        "data": ((config or {}).get("data") or {}).get("source"),
        "scores": (metrics or {}).get("tasks"),
        "average": (metrics or {}).get("average"),
        "examples": (metrics or {}).get("examples"),
        "size_bytes": size,
        "vocab": os.path.join(entry, VOCAB_FILE) if os.path.isfile(os.path.join(entry, VOCAB_FILE)) else None,
        "known": known,
        "config": config,
        "metrics": metrics,
        "card": card,
    }


def catalog(root=None):
    """Every entry one can ask for: the published ones and the ``KNOWN`` ones not yet built.

    Returns a list of ``{"name", "description", "published", "command"}`` sorted by name;
    ``command`` trains and publishes a known entry (None for others).
    """
    published = set(list(root))
    out = []
    for name in sorted(published | set(KNOWN)):
        known = KNOWN.get(name)
        if name in published:
            description = info(name, root)["description"]
        else:
            description = known.description
        out.append(
            {
                "name": name,
                "description": description,
                "published": name in published,
                "command": known.command(name) if known else None,
            }
        )
    return out


# --------------------------------------------------------------------------- score tables

# Metrics shown as x100 (bounded scores); the others (errors) are shown as measured.
PERCENT_METRICS = {
    "accuracy",
    "f1",
    "auc",
    "mcc",
    "macro_f1",
    "micro_f1",
    "mean_auc",
    "token_accuracy",
    "chunk_f1",
    "chunk_precision",
    "chunk_recall",
    "pearson",
    "spearman",
}


def format_score(metric, value):
    """A score as the cards print it: x100 with 2 decimals for bounded metrics, 4 decimals for
    errors (mse, mae), ``-`` for an undefined (null) one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.2f}" if metric in PERCENT_METRICS else f"{value:.4f}"


def _metric_columns(per_task):
    from mtlzoo.evaluation import METRIC_NAMES

    order = [m for names in METRIC_NAMES.values() for m in names]
    seen = {m for r in per_task.values() for m in r if m != "examples"}
    cols = [m for m in dict.fromkeys(order) if m in seen]
    return cols + sorted(seen - set(cols))


def scores_table(metrics):
    """Markdown table of a ``metrics.json`` (``{"split", "examples", "tasks", "average"}``): one row
    per task (and ``average`` when there are several), one column per metric, plus the
    number of labelled examples (tokens for tagging)."""
    per_task = metrics["tasks"]
    cols = _metric_columns(per_task)
    head = ["task", *cols, "examples"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([" --- "] + [" ---: "] * (len(head) - 1)) + "|"]
    for t in sorted(per_task):
        r = per_task[t]
        cells = [format_score(c, r.get(c)) if c in r else "" for c in cols]
        lines.append("| " + " | ".join([t, *cells, str(r.get("examples", ""))]) + " |")
    if len(per_task) > 1:
        avg = metrics.get("average") or {}
        cells = [format_score(c, avg.get(c)) if c in avg else "" for c in cols]
        lines.append("| " + " | ".join(["**average**", *cells, ""]) + " |")
    return "\n".join(lines)


def parse_scores_table(text):
    """``{row: {metric: float or None}}`` from the first markdown table with a ``task`` column
    in ``text`` (the inverse of :func:`scores_table`, as printed: x100 for bounded metrics)."""
    rows, head = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if head is not None and rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if head is None:
            if cells and cells[0] == "task":
                head = cells
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        name = cells[0].strip("*")
        rows[name] = {
            h: (None if c == "-" else float(c))
            for h, c in zip(head[1:], cells[1:], strict=False)
            if c and h != "examples"
        }
    return rows


def format_info(facts):
    """``info()`` as text: name, description, tasks, test scores, files."""
    lines = [facts["name"], f"  {facts['description']}" if facts["description"] else None]
    if facts["tasks"]:
        kinds = ", ".join(
            f"{t} ({s['kind']}" + (f", {s['num_classes']} classes)" if s.get("num_classes", 1) > 2 else ")")
            for t, s in sorted(facts["tasks"].items())
        )
        lines.append(f"  tasks: {kinds}")
    if facts["data"]:
        lines.append(f"  data: {facts['data']}")
    if facts["scores"]:
        lines.append(f"  test scores ({facts['examples']} examples; x100 except mse/mae):")
        table = scores_table({"tasks": facts["scores"], "average": facts["average"]})
        lines += ["    " + line for line in table.splitlines()]
    lines.append(f"  path: {facts['path']} ({facts['size_bytes'] / 1e6:.1f} MB)")
    return "\n".join(line for line in lines if line is not None)


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


# --------------------------------------------------------------------------- publishing


def _read_card(card, command):
    if not os.path.isfile(card):
        raise ConfigError(None, f"--card: {card} does not exist")
    with open(card, encoding="utf-8") as f:
        text = f.read()
    lines = [line.strip() for line in text.splitlines()]
    if SCORES_PLACEHOLDER not in lines:
        raise ConfigError(None, f"--card: {card} has no line {SCORES_PLACEHOLDER} (where the measured test scores go)")
    if command is not None and COMMAND_PLACEHOLDER not in lines:
        raise ConfigError(None, f"--card: {card} has no line {COMMAND_PLACEHOLDER} (where --command goes)")
    if command is None and COMMAND_PLACEHOLDER in lines:
        raise ConfigError(
            None, f"--command: {card} has a {COMMAND_PLACEHOLDER} line; give the command that trained the model"
        )
    return text


def render_card(text, metrics, command=None):
    """A model card with its placeholders filled.

    The line ``<!-- scores -->`` becomes :func:`scores_table` of ``metrics`` with a note
    on the split; the line ``<!-- command -->`` becomes ``command`` (in a ``bash`` code
    block, or as is when the placeholder already sits inside a code block).
    """
    out, fence = [], False
    tagging = any(m.get("token_accuracy") is not None for m in metrics["tasks"].values())
    note = (
        f"Test split, {metrics['examples']} examples"
        + (" (the `examples` column counts tokens for tagging tasks)" if tagging else "")
        + "; x100 except mse/mae; measured by `tools/publish.py` with `mtlzoo.evaluation.evaluate`, "
        "stored in `metrics.json`."
    )
    for line in text.splitlines():
        key = line.strip()
        if key.startswith("```"):
            fence = not fence
        if key == SCORES_PLACEHOLDER:
            if out and out[-1].strip() and not out[-1].lstrip().startswith("#"):
                out.append("")  # a table needs a blank line after a paragraph
            out += [scores_table(metrics), "", note]
        elif key == COMMAND_PLACEHOLDER:
            if command is None:
                raise ConfigError(None, f"--command: the card has a {COMMAND_PLACEHOLDER} line; give the command")
            out += [command] if fence else ["```bash", command, "```"]
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _portable_config(config_path):
    """The workdir's config.json with machine paths (``data.data_dir``, ``data.nltk_data``) removed,
    so the entry reads its data from ``$MTLZOO_DATA_DIR`` wherever it is used; returns the dropped keys."""
    with open(config_path) as f:
        config = json.load(f)
    data = config.get("data") or {}
    dropped = [k for k in ("data_dir", "nltk_data") if data.get(k)]
    for k in dropped:
        data[k] = None
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return dropped


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
        return {"name": "wordpiece", "vocab_file": VOCAB_FILE, "lowercase": bool(data.get("lowercase", True))}
    return None


def publish(workdir, name, card, command=None, root=None, overwrite=False, log=print):
    """Publishes a finished training workdir as zoo entry ``name``; returns the entry's ``info``.

    Copies ``model.keras`` and ``config.json`` (machine paths dropped, see
    :func:`_portable_config`) into a hidden temporary directory beside the target,
    evaluates that copy on the test split (:func:`mtlzoo.evaluation.evaluate`) into
    ``metrics.json``, writes ``vocab.txt`` (and ``tokenizer.json`` for the raw-string
    export) when the data has a vocabulary (``data.info["vocab"]``), renders the card
    (:func:`render_card`) into ``README.md``, then renames the directory into place: a
    failure at any step leaves no entry and no temporary directory behind.

    Args:
        workdir: a finished training workdir (``config.json`` and ``model.keras``).
        name: the entry name (see :func:`check_name`).
        card: markdown model card with the line ``<!-- scores -->`` and, when ``command``
            is given, ``<!-- command -->``.
        command: the command that trained the model; default for a ``KNOWN`` name:
            its ``tools/train.py`` command with this workdir.
        root: zoo directory (see :func:`root_dir`).
        overwrite: replace an existing entry (swapped in only once the new one is complete).
        log: progress printer (None: quiet).

    Raises:
        ConfigError: bad name, missing workdir / model / config / card, a card without the
            placeholder, an existing entry without ``overwrite``, or any evaluation error.
    """
    from mtlzoo.config import read_config

    say = log or (lambda *a: None)
    check_name(name)
    if not os.path.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    for fname in ("config.json", "model.keras"):
        if not os.path.isfile(os.path.join(workdir, fname)):
            raise ConfigError(None, f"--workdir: {workdir} has no {fname}: is it a finished training workdir?")
    if command is None and name in KNOWN:
        command = f"python tools/train.py --config={KNOWN[name].config} --workdir={workdir}"
    text = _read_card(card, command)
    root = root_dir(root)
    target = os.path.join(root, name)
    if os.path.exists(target) and not overwrite:
        raise ConfigError(None, f"--name: {target} already exists; pass --overwrite to replace it")

    os.makedirs(root, exist_ok=True)
    tmp = os.path.join(root, f".tmp-{name}-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(tmp)
        for fname in ("model.keras", "config.json"):
            shutil.copy2(os.path.join(workdir, fname), os.path.join(tmp, fname))
        dropped = _portable_config(os.path.join(tmp, "config.json"))
        if dropped:
            say(f"config.json: dropped data.{', data.'.join(dropped)} (the entry reads $MTLZOO_DATA_DIR)")
        config = read_config(tmp)
        fixed = config.data.get("vocab_file")
        if fixed:
            say(
                f"warning: config.json keeps data.vocab_file={fixed}: evaluating or fine-tuning the entry "
                "elsewhere needs that file at that path"
            )

        from mtlzoo.data import load_data
        from mtlzoo.data.real import save_vocab
        from mtlzoo.evaluation import evaluate, format_table, write_json
        from mtlzoo.models import load_model
        from mtlzoo.tasks import tasks_from_config

        say(f"loading the data of {workdir} ({config.data.source})")
        data = load_data(config, tasks_from_config(config.tasks))
        vocab = (data.info or {}).get("vocab")
        del data
        if vocab is not None:
            save_vocab(vocab, os.path.join(tmp, VOCAB_FILE))
            tok = _tokenizer_config(load_model(os.path.join(tmp, "model.keras")), config)
            if tok is not None:
                from mtlzoo.export.tokenizers import make_tokenizer

                make_tokenizer({**tok, "vocab_file": os.path.join(tmp, VOCAB_FILE)})  # fails now, not at export
                with open(os.path.join(tmp, TOKENIZER_FILE), "w") as f:
                    json.dump(tok, f, indent=2, sort_keys=True)
            say(f"wrote {VOCAB_FILE} ({len(vocab)} tokens)")
        say("evaluating on the test split")
        result = evaluate(tmp, split="test", write=False)
        metrics = {k: result[k] for k in ("split", "examples", "tasks", "average")}
        write_json(metrics, os.path.join(tmp, "metrics.json"))
        say(format_table(result))
        with open(os.path.join(tmp, "metrics.json")) as f:
            metrics = json.load(f)  # NaN -> null, as stored
        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(render_card(text, metrics, command))
        swap_into_place(tmp, target)  # overwrite: the old entry is moved aside, then removed
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    facts = info(name, root)
    say(f"published {target} ({facts['size_bytes'] / 1e6:.1f} MB)")
    return facts


# --------------------------------------------------------------------------- the entries table


def entries_table(root=None):
    """Markdown table of the published entries (saved_models/README.md shows it): name, tasks,
    data, test scores from each ``metrics.json`` (per task when there are at most six tasks,
    else the average) and size."""
    lines = ["| entry | tasks | data | test scores (x100) | size |", "| --- | --- | --- | --- | ---: |"]
    for name in list(root):
        facts = info(name, root)
        tasks = facts["tasks"] or {}
        scores = facts["scores"] or {}
        kinds = sorted({s["kind"] for s in tasks.values()})
        task_text = f"{len(tasks)} {'/'.join(kinds)}: " + ", ".join(sorted(tasks))
        if len(tasks) > 6:
            task_text = f"{len(tasks)} {'/'.join(kinds)}"
        if scores and len(scores) <= 6:
            groups = {}
            for t in sorted(scores):
                for m, v in _headline(scores[t], tasks[t]["kind"])[:1]:
                    groups.setdefault(m, []).append(f"{t} {format_score(m, v)}")
            score_text = "; ".join(f"{m}: {', '.join(cells)}" for m, cells in groups.items())
        elif scores:
            kind = kinds[0] if len(kinds) == 1 else None
            score_text = "average " + ", ".join(
                f"{m} {format_score(m, v)}" for m, v in _headline(facts["average"] or {}, kind)
            )
        else:
            score_text = "-"
        lines.append(
            f"| `{name}` | {task_text} | {facts['data']} | {score_text} | {facts['size_bytes'] / 1e6:.1f} MB |"
        )
    return "\n".join(lines)


ENTRIES_BEGIN, ENTRIES_END = "<!-- entries -->", "<!-- /entries -->"


def readme_entries(text):
    """The text between ``<!-- entries -->`` and ``<!-- /entries -->`` of a README (stripped), or None."""
    if ENTRIES_BEGIN not in text or ENTRIES_END not in text:
        return None
    return text.split(ENTRIES_BEGIN, 1)[1].split(ENTRIES_END, 1)[0].strip()


def update_readme(root=None):
    """Rewrites the entries table (:func:`entries_table`) of ``<root>/README.md`` between its
    ``<!-- entries -->`` / ``<!-- /entries -->`` lines; returns the README's path."""
    readme = os.path.join(root_dir(root), "README.md")
    if not os.path.isfile(readme):
        raise ConfigError(None, f"--zoo_dir: {readme} does not exist")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    if readme_entries(text) is None:
        raise ConfigError(None, f"{readme} has no {ENTRIES_BEGIN} ... {ENTRIES_END} lines to fill")
    head, rest = text.split(ENTRIES_BEGIN, 1)
    tail = rest.split(ENTRIES_END, 1)[1]
    tmp = f"{readme}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{head}{ENTRIES_BEGIN}\n{entries_table(root)}\n{ENTRIES_END}{tail}")
    os.replace(tmp, readme)
    return readme


HEADLINE = {
    "binary": ("accuracy", "auc"),
    "multiclass": ("accuracy",),
    "multilabel": ("mean_auc",),
    "regression": ("pearson",),
    "tagging": ("token_accuracy",),
}


def _headline(scores, kind):
    names = HEADLINE.get(kind, ("accuracy",))
    return [(m, scores.get(m)) for m in names if m in scores]


def _checkpoint_path(workdir, checkpoint):
    ckpt = str(checkpoint)
    if re.fullmatch(r"\d+", ckpt):
        candidate = os.path.join(workdir, "checkpoints", f"epoch_{int(ckpt):03d}.weights.h5")
    elif os.path.exists(ckpt):
        candidate = ckpt
    elif os.path.exists(os.path.join(workdir, "checkpoints", ckpt)):
        candidate = os.path.join(workdir, "checkpoints", ckpt)
    else:
        candidate = os.path.join(workdir, ckpt)
    if not os.path.isfile(candidate):
        found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(workdir, "checkpoints", "*.weights.h5")))
        raise ConfigError(
            None,
            f"--checkpoint: {candidate} does not exist; {workdir}/checkpoints has {', '.join(found) if found else 'no checkpoints'}",
        )
    return candidate


def load_workdir(workdir, checkpoint=None):
    """Loads the model of a training workdir or zoo entry; returns ``(model, config, source path)``.

    Args:
        workdir: directory with ``config.json`` and ``model.keras`` and/or
            ``checkpoints/epoch_NNN.weights.h5``.
        checkpoint: None (``model.keras``, else the last checkpoint), an epoch number
            (``3`` -> ``checkpoints/epoch_003.weights.h5``), or a path to a
            ``.weights.h5`` / ``.keras`` file (absolute, or relative to the workdir or
            its ``checkpoints/``). Weights files are loaded into ``build_model(config)``.

    Raises:
        ConfigError: missing workdir / config / model, or a file that does not load.
    """
    from mtlzoo.config import read_config

    if not os.path.isdir(workdir):
        raise ConfigError(None, f"--workdir: {workdir} does not exist")
    config = read_config(workdir)
    if checkpoint is None:
        source = os.path.join(workdir, "model.keras")
        if not os.path.isfile(source):
            found = sorted(glob.glob(os.path.join(workdir, "checkpoints", "epoch_*.weights.h5")))
            if not found:
                raise ConfigError(
                    None, f"--workdir: {workdir} has no model.keras and no checkpoints/: did training run?"
                )
            source = found[-1]
    else:
        source = _checkpoint_path(workdir, checkpoint)
    if source.endswith(".keras"):
        from mtlzoo.models import load_model  # Keras is imported only once the paths are known to be good

        return load_model(source), config, source
    if not source.endswith(".weights.h5"):
        raise ConfigError(None, f"--checkpoint: {source} is neither a .keras nor a .weights.h5 file")
    from mtlzoo.models import build_model

    model = build_model(config)
    try:
        model.load_weights(source)
    except Exception as e:
        raise ConfigError(
            None, f"--checkpoint: {source} could not be loaded into the workdir's model ({type(e).__name__}: {e})"
        ) from e
    return model, config, source


# --------------------------------------------------------------------------- fine-tuning

FINETUNE_SCHEMA = {
    "freeze": Field("none", str, choices=("none", "encoder", "pretrained")),
    "freeze_layers": Field((), "strs"),
    "alignment": Field("none", str),
}

# Alignment for fine-tuning on a new task: name -> fn(config dict, new task names) -> config dict.
# The function edits the run config before it is resolved (e.g. switching on a per-task
# alignment layer for the new tasks); build_model then builds the aligned model and
# finetune() transfers every pretrained layer it finds by name. Layers the pretrained
# model lacks (an alignment's R_i, a new task's head) start from their initialisers and
# are never frozen, so ``freeze: encoder`` with an alignment is Algorithm 1's second
# stage (B fixed, train R_i and A_i) of Wu, Zhang & Ré (2020).
ALIGNMENTS = Registry("fine-tuning alignment")


@ALIGNMENTS.register("none")
def _no_alignment(config, new_tasks):
    return config


@ALIGNMENTS.register("joint")
def _joint_alignment(config, new_tasks):
    """Adds a covariance alignment (identity at start) between E and B of the fine-tuned
    model; with ``freeze: encoder`` only the R_i and the heads train, which is the second
    stage of Algorithm 1 applied to transfer. The examples' ``task_id`` routes them."""
    model = dict(_to_dict(config.get("model")) or {})
    model["alignment"] = "joint"
    return {**config, "model": model}


def resolve_pretrained(pretrained, root=None):
    """``--pretrained`` -> ``(model file, directory with config.json)``.

    Accepts a zoo entry name, a workdir / zoo entry directory, or a ``.keras`` file
    (its config is the ``config.json`` beside it).
    """
    if pretrained.endswith(".keras"):
        if not os.path.isfile(pretrained):
            raise ConfigError(None, f"--pretrained: {pretrained} does not exist")
        return pretrained, os.path.dirname(os.path.abspath(pretrained))
    if os.path.isdir(pretrained):
        model_path = os.path.join(pretrained, "model.keras")
        if not os.path.isfile(model_path):
            raise ConfigError(
                None, f"--pretrained: {pretrained} has no model.keras: is it a finished training workdir?"
            )
        return model_path, pretrained
    if os.sep in pretrained:
        raise ConfigError(None, f"--pretrained: {pretrained} does not exist")
    entry = path(pretrained, root)
    return os.path.join(entry, "model.keras"), entry


def _to_dict(config):
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return dict(config)


# Layers that hold one slice per task along axis 0, task i = the i-th task name in sorted order:
# the covariance alignment's R_i (``alignment``, [k, d, d]) and the SVD task weights (``task_weights``, [k]).
PER_TASK_LAYERS = ("alignment", "task_weights")


def plan_finetune(pretrained_model, model, tasks, options, old_tasks=None):
    """Which layers of ``model`` get pretrained weights, which are new, which are frozen.

    A layer is transferred when the pretrained model has a layer of the same name
    whose weights have the same shapes; a same-named layer with other shapes is an
    error. The per-task layers (``PER_TASK_LAYERS``: the alignment's R_i, the SVD task
    weights) are remapped by task name instead: the slice of a task both models have
    is copied, a new task's slice keeps its initial value (R_i = I). ``freeze``:
    ``none``; ``encoder`` (transferred layers that belong to no task; per-task layers
    are a task's, so R_i keep training: Algorithm 1's second stage); ``pretrained``
    (all transferred layers, and remapped ones without a new task); plus
    ``freeze_layers`` (fnmatch patterns over layer names). New layers are never frozen.

    Returns ``{"transferred": [...], "remapped": {layer: {"kept": [tasks], "new": [tasks]}},
    "new": [...], "frozen": [...], "dropped_tasks": [...], "new_tasks": [...]}``.
    """
    from mtlzoo.models.builder import is_task_layer

    old = {layer.name: layer for layer in pretrained_model.layers}
    names = [t.name for t in tasks]
    old_specs = {t.name: t for t in (old_tasks or [])}
    for t in tasks:
        if t.name in old_specs and (old_specs[t.name].kind, old_specs[t.name].num_classes) != (t.kind, t.num_classes):
            o = old_specs[t.name]
            raise ConfigError(
                f"tasks.{t.name}",
                f"the pretrained model has {t.name!r} as a {o.kind} task with {o.num_classes} classes, "
                f"the config as {t.kind} with {t.num_classes}; rename the new task",
            )
    old_task_names = sorted({t.name for t in old_tasks} if old_tasks else set(pretrained_model.output))
    transferred, new, remapped = [], [], {}
    for layer in model.layers:
        if not layer.weights:
            continue
        src = old.get(layer.name)
        if src is None:
            new.append(layer.name)
            continue
        want = [tuple(w.shape) for w in layer.weights]
        have = [tuple(w.shape) for w in src.weights]
        if layer.name in PER_TASK_LAYERS and [w[1:] for w in want] == [w[1:] for w in have]:
            if [w[0] for w in want] == [len(names)] * len(want) and [w[0] for w in have] == [len(old_task_names)] * len(
                have
            ):
                kept = sorted(set(names) & set(old_task_names))
                remapped[layer.name] = {"kept": kept, "new": sorted(set(names) - set(old_task_names))}
                continue
        if want != have:
            raise ConfigError(
                "model",
                f"layer {layer.name!r}: the pretrained weights have shapes {have} but the config builds {want}",
            )
        transferred.append(layer.name)
    if not transferred:
        raise ConfigError("model", "no layer of the pretrained model matches the config's model; nothing to fine-tune")
    mode = options["freeze"]
    frozen = set()
    if mode == "encoder":
        frozen = {n for n in transferred if not any(is_task_layer(n, t) for t in names)}
    elif mode == "pretrained":
        frozen = set(transferred) | {n for n, r in remapped.items() if not r["new"]}
    weighted = transferred + sorted(remapped) + new
    for pattern in options["freeze_layers"]:
        hits = [n for n in weighted if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError("finetune.freeze_layers", f"pattern {pattern!r} matches no layer with weights")
        frozen.update(hits)
    return {
        "transferred": transferred,
        "remapped": remapped,
        "new": new,
        "frozen": sorted(frozen),
        "dropped_tasks": sorted(set(old_task_names) - set(names)),
        "new_tasks": sorted(set(names) - set(old_task_names)),
    }


def apply_plan(model, pretrained_model, plan):
    """Copies the transferred layers' pretrained weights into ``model`` (the kept tasks' slices
    of the remapped per-task layers) and freezes ``plan["frozen"]``."""
    import numpy as np

    for name in plan["transferred"]:
        model.get_layer(name).set_weights(pretrained_model.get_layer(name).get_weights())
    new_names = sorted(model.output)
    old_names = sorted(pretrained_model.output)
    for name, rows in plan.get("remapped", {}).items():
        layer, src = model.get_layer(name), pretrained_model.get_layer(name)
        weights = [np.array(w) for w in layer.get_weights()]
        for w, w_old in zip(weights, src.get_weights(), strict=True):
            for t in rows["kept"]:
                w[new_names.index(t)] = w_old[old_names.index(t)]
        layer.set_weights(weights)
    for name in plan["frozen"]:
        model.get_layer(name).trainable = False
    return model


def _fixed_vocabulary(merged, user_cfg, config_dir):
    """Sets ``data.vocab_file`` to the pretrained entry's ``vocab.txt`` (so the new data's token
    ids are the ones the pretrained embedding learnt) when the entry has one, the data
    source takes a ``vocab_file`` and the user's config does not set it; returns the file or None."""
    from mtlzoo.data import SOURCES

    vocab = os.path.join(config_dir, VOCAB_FILE)
    data = dict(_to_dict(merged.get("data")))
    user_data = _to_dict(user_cfg.get("data"))
    if not os.path.isfile(vocab) or user_data.get("vocab_file") or "source" not in data:
        return None
    source = SOURCES.get(data["source"], "data.source")
    if "vocab_file" not in getattr(source, "schema", {}):
        return None
    data["vocab_file"] = os.path.abspath(vocab)
    merged["data"] = data
    return data["vocab_file"]


def finetune(pretrained, config, workdir, root=None, strategy="default"):
    """Fine-tunes a trained multi-task model; returns the trainer's ``TrainResult``.

    Args:
        pretrained: zoo entry name, workdir / zoo entry directory, or ``.keras`` file
            (with a ``config.json`` beside it).
        config: a run config (see :mod:`mtlzoo.config`) plus an optional ``finetune``
            section ``{freeze: none|encoder|pretrained, freeze_layers: [patterns],
            alignment: none}``. Sections it omits (``tasks``, ``data``, ``model``,
            ``train``, ``seed``) come from the pretrained model's config. Tasks the
            pretrained model lacks get a new head; pretrained tasks the config omits
            are dropped; ``model`` must build layers whose names and shapes match
            the pretrained ones it shares. When the pretrained entry / workdir has a
            ``vocab.txt`` and the config's data source takes ``vocab_file``, the data
            is encoded with that vocabulary unless the config sets ``data.vocab_file``.
        workdir: run directory, as for :func:`mtlzoo.training.train`, plus
            ``finetune.json`` (the plan: transferred, new and frozen layers).

    The trainer (:func:`mtlzoo.training.train`) builds the model from the config;
    before training, every layer that the pretrained model has under the same name
    receives its weights and the layers ``freeze`` selects are frozen, so checkpoints,
    logs and resume are the trainer's (a resumed run restores its own weights). See
    ``ALIGNMENTS`` for the alignment extension point.

    Example:
        >>> finetune("/tmp/mtlzoo_quickstart", {"finetune": {"freeze": "encoder"},
        ...          "train": {"epochs": 2}}, "/tmp/mtlzoo_ft")
    """
    from mtlzoo.config import read_config, resolve_config
    from mtlzoo.tasks import tasks_from_config

    cfg = _to_dict(config)
    options = check_fields(cfg.pop("finetune", None), FINETUNE_SCHEMA, "finetune")
    align = ALIGNMENTS.get(options["alignment"], "finetune.alignment")
    model_path, config_dir = resolve_pretrained(pretrained, root)
    if not os.path.isfile(os.path.join(config_dir, "config.json")):
        raise ConfigError(None, f"--pretrained: {config_dir} has no config.json; fine-tuning needs the model's config")
    old_cfg = read_config(config_dir).to_dict()
    merged = {**old_cfg, **{k: v for k, v in cfg.items() if v is not None}}
    vocab_file = _fixed_vocabulary(merged, cfg, config_dir)
    old_tasks = tasks_from_config(old_cfg["tasks"])
    new_task_names = sorted(set(_to_dict(merged.get("tasks"))) - {t.name for t in old_tasks})
    merged = align(merged, new_task_names)
    resolved = resolve_config(merged)  # validates every field before any heavy work
    tasks = tasks_from_config(resolved.tasks)

    from mtlzoo.models import build_model, load_model  # heavy imports only after the cheap checks

    pretrained_model = load_model(model_path)
    probe = build_model(resolved)
    plan = plan_finetune(pretrained_model, probe, tasks, options, old_tasks)
    del probe

    os.makedirs(workdir, exist_ok=True)
    record = {"pretrained": os.path.abspath(model_path), "vocab_file": vocab_file, **options, **plan}
    tmp = os.path.join(workdir, "finetune.json.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "finetune.json"))
    from mtlzoo.training import train

    def model_fn(config):  # the trainer's variables are collected after this returns
        return apply_plan(build_model(config), pretrained_model, plan)

    return train(resolved, workdir, strategy=strategy, model_fn=model_fn)


__all__ = [
    "ALIGNMENTS",
    "DEFAULT_ROOT",
    "KNOWN",
    "PER_TASK_LAYERS",
    "catalog",
    "entries_table",
    "evaluate",
    "export",
    "finetune",
    "format_info",
    "info",
    "list",
    "load",
    "load_workdir",
    "path",
    "publish",
    "render_card",
    "resolve_pretrained",
    "root_dir",
    "scores_table",
    "update_readme",
]
