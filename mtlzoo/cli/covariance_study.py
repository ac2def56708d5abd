"""The Fig. 3 study of Wu, Zhang & Ré (ICLR 2020): covariance misalignment and alignment.

    python tools/covariance_study.py --workdir=/tmp/fig3 [--seeds=0,1,2,3,4,5,6,7,8,9] \
        [--source_sizes=10,20,40,80,160,320,640,1280] [--target_size=40] [--penalty=10]

Writes fig3_table.md, fig3_covariance.png and fig3_results.json into the workdir and
prints the table. See mtlzoo/studies/fig3.py.
"""

from mtlzoo.cli._common import run  # noqa: I001  (quiets TF logging first)
from absl import flags

from mtlzoo.studies import fig3 as fig3_study
from mtlzoo.errors import ConfigError

_D = fig3_study.DEFAULTS
PROGRESS_NAME = "covariance study"  # the line said before TensorFlow loads (mtlzoo.cli._common.starting_line)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory for the table, plot and JSON.")
_SEEDS = flags.DEFINE_string("seeds", ",".join(map(str, _D["seeds"])), "Comma-separated integer seeds.")
_SIZES = flags.DEFINE_string(
    "source_sizes", ",".join(map(str, _D["source_sizes"])), "Comma-separated source sample sizes."
)
_TARGET = flags.DEFINE_integer("target_size", _D["target_size"], "Target (task 1) sample size.")
_DIM = flags.DEFINE_integer("d", _D["d"], "Feature dimension.")
_RANK = flags.DEFINE_integer("rank", _D["rank"], "Width r of the shared module B.")
_PENALTY = flags.DEFINE_float("penalty", _D["penalty"], "Alignment penalty lambda on ||R_i - I||^2.")
flags.mark_flags_as_required(["workdir"])


def _int_list(flag):
    try:
        values = [int(v) for v in flag.value.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--{flag.name}", f"must be comma-separated integers, got {flag.value!r}") from None
    return values


def main(argv):
    del argv
    seeds = _int_list(_SEEDS)
    sizes = _int_list(_SIZES)
    fig3_study.check_settings(seeds, sizes, _TARGET.value, _DIM.value, _RANK.value, _PENALTY.value, prefix="--")
    result = fig3_study.run_fig3_study(
        seeds=seeds,
        d=_DIM.value,
        target_size=_TARGET.value,
        source_sizes=sizes,
        rank=_RANK.value,
        penalty=_PENALTY.value,
        progress=print,
    )
    paths = fig3_study.write_fig3_outputs(result, _WORKDIR.value)
    print(fig3_study.format_table(result))
    print(f"wrote {paths['table']}, {paths['plot']}, {paths['json']}")


if __name__ == "__main__":
    run(main)
