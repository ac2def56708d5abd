"""The GLUE study (Wu, Zhang & Ré 2020, Sec. 4.3) on the MiniLM encoder: single-task vs multi-task vs alignment.

    mtlzoo glue_study --workdir=/tmp/glue_study --seeds=0,1 \
        [--config=glue_minilm] [--tasks=cola,sst2,mrpc,stsb,rte] \
        [--max_train_examples=1000] [--epochs=2] [--alignment_epochs=1] [--max_length=128] \
        [--similarity_examples=256] [--figure=docs/img/glue_study.png]
    mtlzoo glue_study --workdir=/tmp/glue_study --report_only     # regenerate the report, no training
    mtlzoo glue_study --workdir=/tmp/glue_study --publish=glue5_minilm [--publish_seed=0] [--zoo_dir=...]

Per seed: (a) one model per task, (b) one multi-task model, (c) the same with the per-task
alignment trained jointly, (d) Algorithm 1's schedule (train, then freeze the shared layers
and train R_i and the heads). Each run in ``WORKDIR/seed<s>/<run>``; a finished run is
skipped, so rerunning resumes; one CSV row per finished run (``glue_runs.csv``) and the
report ``glue_study.{md,json,png}`` rewritten after each. ``--publish=NAME`` (no training)
publishes the best finished multi-task run of ``--publish_seed`` as zoo entry NAME with its
weights stored as float16 and a card with the float32 and float16 GLUE scores. See
mtlzoo.studies.glue.
"""

from mtlzoo.cli._common import fail, int_list, run  # noqa: I001  (quiets TF logging first)

from absl import flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Study folder: run folders, glue_runs.csv, glue_study.{md,json,png}.")
_CONFIG = flags.DEFINE_string(
    "config", "glue_minilm", "Config file or packaged config name whose get_config('TASK,...') gives each run."
)
_TASKS = flags.DEFINE_list("tasks", ["cola", "sst2", "mrpc", "stsb", "rte"], "GLUE tasks (at least 2).")
_ARMS = flags.DEFINE_list(
    "arms",
    ["single_task", "mtl", "mtl_joint", "mtl_fixed_encoder", "mtl_fixed_heads"],
    "Which arms to run (default all five; mtl_fixed_heads is the control for mtl_fixed_encoder).",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Seeds (initialisation, subsample, split, batch order).")
_MAX_TRAIN = flags.DEFINE_integer(
    "max_train_examples", None, "Cap every task's training file at this many (seeded) rows; default: the config's."
)
_EPOCHS = flags.DEFINE_integer("epochs", None, "Override train.epochs.")
_ALIGN_EPOCHS = flags.DEFINE_integer("alignment_epochs", None, "Override train.alignment_epochs (arm d's phase 2).")
_MAX_LENGTH = flags.DEFINE_integer("max_length", None, "Override data.max_length (tokens per example).")
_LR = flags.DEFINE_float(
    "learning_rate", None, "Override train.learning_rate (the peak rate; docs/reproductions.md's study: 5e-5)."
)
_SIM = flags.DEFINE_integer(
    "similarity_examples", 256, "Training examples per task for the embedding covariance similarity (0: skip)."
)
_FIGURE = flags.DEFINE_string("figure", None, "Also save the plot here (e.g. docs/img/glue_study.png).")
_REPORT_ONLY = flags.DEFINE_bool("report_only", False, "Only regenerate the report from the finished runs.")
_PUBLISH = flags.DEFINE_string(
    "publish", None, "Publish the best finished multi-task run as this zoo entry (float16 storage); no training."
)
_PUBLISH_SEED = flags.DEFINE_integer("publish_seed", 0, "The seed whose run --publish takes.")
_PUBLISH_ARM = flags.DEFINE_string("publish_arm", None, "Publish this arm instead of the best (mtl, mtl_joint, ...).")
_ZOO_DIR = flags.DEFINE_string("zoo_dir", None, "Zoo root for --publish (default: $MTLZOO_HOME, else saved_models/).")
flags.mark_flags_as_required(["workdir"])
# the config fields the study's flags override (recorded in study.json; --publish names them again)
_OVERRIDES = (
    ("data.max_train_examples", _MAX_TRAIN),
    ("train.epochs", _EPOCHS),
    ("train.alignment_epochs", _ALIGN_EPOCHS),
    ("data.max_length", _MAX_LENGTH),
    ("train.learning_rate", _LR),
)


def main(argv):
    del argv
    from mtlzoo.studies.glue import ARMS, markdown, run_glue_study, write_report

    seeds = int_list(_SEEDS.value, "seeds")
    for arm in _ARMS.value or fail("--arms must not be empty"):
        if arm not in ARMS:
            fail(f"--arms: unknown arm {arm!r}; choose from {', '.join(ARMS)}")
    for name, flag in (("max_train_examples", _MAX_TRAIN), ("epochs", _EPOCHS), ("alignment_epochs", _ALIGN_EPOCHS)):
        if flag.value is not None and flag.value < 1:
            fail(f"--{name} must be a positive integer, got {flag.value}")
    if _MAX_LENGTH.value is not None and _MAX_LENGTH.value < 3:
        fail(f"--max_length must be >= 3, got {_MAX_LENGTH.value}")
    if _LR.value is not None and not _LR.value > 0:
        fail(f"--learning_rate must be > 0, got {_LR.value}")
    if _SIM.value < 0:
        fail(f"--similarity_examples must be >= 0, got {_SIM.value}")
    if _PUBLISH.value:
        import shlex
        import sys

        from mtlzoo.studies.glue import ALIGNMENT
        from mtlzoo.studies.glue_publish import publish_entry

        if _PUBLISH_ARM.value is not None and _PUBLISH_ARM.value not in ALIGNMENT:
            fail(f"--publish_arm must be one of {', '.join(ALIGNMENT)}, got {_PUBLISH_ARM.value!r}")
        settings = _study_command(_WORKDIR.value)
        command = settings + "\nmtlzoo glue_study " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        out = publish_entry(
            _WORKDIR.value,
            _PUBLISH.value,
            seed=_PUBLISH_SEED.value,
            arm=_PUBLISH_ARM.value,
            root=_ZOO_DIR.value,
            command=command,
        )
        print(
            f"published {out['info']['path']} from {out['arm']} (GLUE averages of seed {_PUBLISH_SEED.value}: {out['averages']})"
        )
        return
    if _REPORT_ONLY.value:
        report = write_report(_WORKDIR.value, seeds=seeds, arms=_ARMS.value, figure=_FIGURE.value)
    else:
        from mtlzoo.config import load_config_module
        from mtlzoo.configs import config_path

        overrides = {key: flag.value for key, flag in _OVERRIDES if flag.value is not None}
        module = load_config_module(config_path(_CONFIG.value))
        report = run_glue_study(
            module.get_config,
            _WORKDIR.value,
            seeds=seeds,
            tasks=_TASKS.value,
            arms=_ARMS.value,
            overrides=overrides,
            similarity_examples=_SIM.value,
            progress=lambda line: print(line, flush=True),
            figure=_FIGURE.value,
        )
    print(markdown(report))
    print(f"report written to {_WORKDIR.value}/glue_study.md (.json, .png)")


def _study_command(workdir):
    """The ``mtlzoo glue_study`` command that trains the study in ``workdir`` (from its study.json)."""
    import json
    import os

    path = os.path.join(workdir, "study.json")
    if not os.path.isfile(path):
        fail(f"--workdir: {workdir} holds no GLUE study (no study.json)")
    with open(path) as f:
        s = json.load(f)
    flag = {key: f.name for key, f in _OVERRIDES}
    parts = [f"--workdir={workdir}", f"--tasks={','.join(s['tasks'])}"]
    parts += [f"--{flag[k]}={v}" for k, v in s["overrides"].items() if k in flag]
    parts.append(f"--similarity_examples={s['similarity_examples']}")
    return "mtlzoo glue_study " + " ".join(parts)


if __name__ == "__main__":
    run(main)
