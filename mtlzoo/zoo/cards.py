"""Model cards and score tables: an entry's ``README.md`` rendered from its card template and
``metrics.json``, the text of ``zoo.info``, and the zoo README's table of entries.

A card template is markdown with the line ``<!-- scores -->`` (becomes :func:`scores_table`
of the measured test scores) and, optionally, ``<!-- command -->`` (becomes the command that
trained the model). Its first paragraph after the title is the entry's description.

Example:
    >>> metrics = {"split": "test", "examples": 2, "tasks": {"y": {"accuracy": 0.5, "examples": 2}},
    ...            "average": {"accuracy": 0.5}}
    >>> print(scores_table(metrics))
    | task | accuracy | examples |
    | --- | ---: | ---: |
    | y | 50.00 | 2 |
"""

import math
import os

from mtlzoo import fileio
from mtlzoo.errors import ConfigError
from mtlzoo.metrics import METRIC_NAMES
from mtlzoo.zoo.catalogue import info, list, root_dir

SCORES_PLACEHOLDER = "<!-- scores -->"
COMMAND_PLACEHOLDER = "<!-- command -->"
ENTRIES_BEGIN, ENTRIES_END = "<!-- entries -->", "<!-- /entries -->"

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

# The scores the entries table shows per task kind.
HEADLINE = {
    "binary": ("accuracy", "auc"),
    "multiclass": ("accuracy",),
    "multilabel": ("mean_auc",),
    "regression": ("pearson",),
    "tagging": ("token_accuracy",),
}


def format_score(metric, value):
    """A score as the cards print it: x100 with 2 decimals for bounded metrics, 4 decimals for
    errors (mse, mae), ``-`` for an undefined (null) one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.2f}" if metric in PERCENT_METRICS else f"{value:.4f}"


def _metric_columns(per_task):
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


def read_card(card, command):
    """The text of card template ``card``; ConfigError if it lacks ``<!-- scores -->``, or has
    ``<!-- command -->`` exactly when ``command`` is None."""
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
        + "; x100 except mse/mae; measured by `mtlzoo publish` with `mtlzoo.evaluation.evaluate`, "
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


def format_info(facts):
    """``info()`` as text: name, description, tasks, test scores, files."""
    lines = [facts["name"], f"  {facts['description']}" if facts["description"] else None]
    if facts["tasks"]:
        kinds = ", ".join(
            f"{t} ({s['kind']}" + (f", {s['num_classes']} classes)" if (s.get("num_classes") or 1) > 2 else ")")
            for t, s in sorted(facts["tasks"].items())
        )
        lines.append(f"  tasks: {kinds}")
    if facts["data"]:
        lines.append(f"  data: {facts['data']}")
    enc = facts.get("encoder")
    if isinstance(enc, dict) and enc.get("name"):
        text = f"  encoder: {enc['name']}"
        if enc["name"] == "bert":
            text += f", {enc.get('num_layers')} layers, hidden {enc.get('hidden_dim')}, {enc.get('pooling')} pooling"
            text += f" (from checkpoint {enc['preset']})" if enc.get("preset") else " (weights in model.keras)"
        lines.append(text)
    tok = facts.get("tokenizer")
    if isinstance(tok, dict) and tok.get("name"):
        parts = [f"{facts.get('vocab_size')} tokens"] if facts.get("vocab") else []
        parts.append("lower-cased" if tok.get("lowercase", True) else "cased")
        if tok.get("max_length"):
            parts.append(f"at most {tok['max_length']}")
        where = facts.get("vocab") or tok.get("vocab_file")
        lines.append(f"  tokenizer: {tok['name']}, {where} ({', '.join(parts)})")
    if facts["scores"]:
        lines.append(f"  test scores ({facts['examples']} examples; x100 except mse/mae):")
        table = scores_table({"tasks": facts["scores"], "average": facts["average"]})
        lines += ["    " + line for line in table.splitlines()]
    lines.append(f"  path: {facts['path']} ({facts['size_bytes'] / 1e6:.1f} MB)")
    return "\n".join(line for line in lines if line is not None)


def _headline(scores, kind):
    names = HEADLINE.get(kind, ("accuracy",))
    return [(m, scores.get(m)) for m in names if m in scores]


def entries_table(root=None):
    """Markdown table of the published entries (the zoo README shows it): name, tasks, data,
    test scores from each ``metrics.json`` (per task when there are at most six tasks,
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


def readme_entries(text):
    """The text between ``<!-- entries -->`` and ``<!-- /entries -->`` of a README (stripped), or None."""
    if ENTRIES_BEGIN not in text or ENTRIES_END not in text:
        return None
    return text.split(ENTRIES_BEGIN, 1)[1].split(ENTRIES_END, 1)[0].strip()


def update_readme(root=None):
    """Rewrites the entries table (:func:`entries_table`) of ``<root>/README.md`` between its
    ``<!-- entries -->`` / ``<!-- /entries -->`` lines (atomically); returns the README's path."""
    readme = os.path.join(root_dir(root), "README.md")
    if not os.path.isfile(readme):
        raise ConfigError(None, f"--zoo_dir: {readme} does not exist")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    if readme_entries(text) is None:
        raise ConfigError(None, f"{readme} has no {ENTRIES_BEGIN} ... {ENTRIES_END} lines to fill")
    head, rest = text.split(ENTRIES_BEGIN, 1)
    tail = rest.split(ENTRIES_END, 1)[1]
    fileio.write_text(f"{head}{ENTRIES_BEGIN}\n{entries_table(root)}\n{ENTRIES_END}{tail}", readme)
    return readme
