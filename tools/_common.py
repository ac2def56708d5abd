"""Shared plumbing of the absl tools: quiet TF logs, exit code 2 on bad input."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fail(message):
    """Prints one line naming what is wrong and exits with code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def int_list(values, flag, minimum=0):
    """The integers of a comma-separated list flag, each >= ``minimum``; one error line and exit 2
    naming ``--flag`` otherwise (also for an empty list)."""
    kind = {0: "non-negative", 1: "positive"}.get(minimum, f">= {minimum}")
    message = f"--{flag} must be comma-separated {kind} integers, got {','.join(values)!r}"
    try:
        out = [int(v) for v in values]
    except ValueError:
        fail(message)
    if not out or min(out) < minimum:
        fail(message)
    return out


def parse_flags(argv):
    """absl flag parsing that reports a bad flag in one line and exits with 2."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e).splitlines()[0])
    except (AttributeError, KeyError) as e:  # --config.a.b=... where the config has no field b
        key = str(e).strip("\"'")
        names = [a.split("=")[0] for a in argv if a.startswith("--config.")]
        flag = next((n for n in names if n.endswith("." + key)), None)
        if flag is None:
            fail(f"{type(e).__name__}: {e}".splitlines()[0])
        fail(f"{flag}: the config has no field {key!r} (see the README's training-engine table for the fields)")
    except Exception as e:  # a config file that fails to import, a bad --config.x override
        fail(f"{type(e).__name__}: {e}".splitlines()[0])


def config_value(holder):
    """The ConfigDict of a ``DEFINE_config_file`` flag; a file that fails to load exits with 2."""
    try:
        return holder.value.copy_and_resolve_references()
    except Exception as e:  # config_flags defers a load failure until first access
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        fail(f"cannot load --{holder.name}: {lines[-1] if lines else type(e).__name__}")


def run(main):
    """``absl.app.run`` with :func:`parse_flags`; ConfigError from ``main`` exits with 2."""
    from absl import app, flags

    from mtlzoo.errors import ConfigError

    def wrapped(argv):
        from absl import logging

        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # keep TensorFlow's INFO chatter out of the output
        try:
            return main(argv)
        except ConfigError as e:
            fail(str(e))

    app.run(wrapped, flags_parser=parse_flags)
