"""The sentiment experiments of Wu, Zhang & Ré (2020): STL vs MTL per encoder, and shared capacity.

    python tools/sentiment_study.py --study=stl_mtl --workdir=/tmp/sentiment_study \
        [--encoders=text_mlp,text_cnn,lstm] [--seeds=0]
    python tools/sentiment_study.py --study=capacity --workdir=/tmp/sentiment_study \
        [--capacity_encoder=text_mlp] [--capacities=5,10,25,50,100,200,500] [--seeds=0,1]

Configs come from ``configs/sentiment.py`` (``get_config("ENCODER[,TASK]")``), evaluated
on the **test** split (no model selection happens in these runs). ``stl_mtl`` trains, per
encoder, one single-task model per task and the six-task model and writes
``stl_mtl.{md,json,png}``; ``capacity`` trains the six-task model at each shared capacity r
(``units`` of text_mlp, ``hidden`` of lstm, ``num_filters`` of text_cnn) and writes
``capacity_<encoder>.{md,json,png}`` (with the STL mean of ``stl_mtl`` when it was run in
the same workdir). Runs live in ``--workdir/<encoder>/...``; rerunning resumes. See
mtlzoo.studies.sentiment.
"""

from mtlzoo.cli._common import int_list, run  # noqa: I001  (quiets TF logging first)

from absl import flags

PROGRESS_NAME = "sentiment study"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_STUDY = flags.DEFINE_enum("study", None, ["stl_mtl", "capacity"], "Which experiment.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder: runs and the report files.")
_CONFIG = flags.DEFINE_string(
    "config",
    "sentiment",
    "Config file or packaged config name whose get_config('ENCODER[,TASK...]') gives each run's config.",
)
_ENCODERS = flags.DEFINE_list("encoders", ["text_mlp", "text_cnn", "lstm"], "Encoders for --study=stl_mtl.")
_CAP_ENCODER = flags.DEFINE_string("capacity_encoder", "text_mlp", "Encoder for --study=capacity.")
_CAPACITIES = flags.DEFINE_list("capacities", ["5", "10", "25", "50", "100", "200", "500"], "Shared capacities r.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (initialisation, data split, batch order).")
_EPOCHS = flags.DEFINE_integer("epochs", None, "Override train.epochs of every run.")
flags.mark_flags_as_required(["study", "workdir"])


def main(argv):
    del argv
    from mtlzoo.configs import config_path
    from mtlzoo.studies.sentiment import sentiment_study

    seeds = int_list(_SEEDS.value, "seeds")
    capacities = int_list(_CAPACITIES.value, "capacities", minimum=1)
    table, stem = sentiment_study(
        _STUDY.value,
        _WORKDIR.value,
        config_path(_CONFIG.value),
        encoders=_ENCODERS.value,
        capacity_encoder=_CAP_ENCODER.value,
        capacities=capacities,
        seeds=seeds,
        epochs=_EPOCHS.value,
    )
    print(table)
    print(f"written: {stem}.md, {stem}.json, {stem}.png")


if __name__ == "__main__":
    run(main)
