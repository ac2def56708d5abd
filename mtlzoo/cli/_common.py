"""Shared plumbing of the absl tools: quiet TF logs, exit code 2 on bad input."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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


def _config_flags_by_name(flag_values):
    """Makes every ``DEFINE_config_file`` flag take a packaged config's name as well as a path
    (``--config=quickstart``, ``--config=sentiment:lstm,align``; see :func:`mtlzoo.configs.config_path`)."""
    from ml_collections.config_flags import config_flags  # the module (ml-collections is pinned in setup.py)

    from mtlzoo.configs import config_path

    class NamedConfigFileParser(config_flags.ConfigFileFlagParser):
        def parse(self, path):
            return super().parse(config_path(path))

    for flag in flag_values._flags().values():
        if type(flag.parser) is config_flags.ConfigFileFlagParser:
            flag.parser = NamedConfigFileParser(flag.parser.name, flag.parser._lock_config)


def parse_flags(argv):
    """absl flag parsing that reports a bad flag in one line and exits with 2."""
    from absl import flags

    _config_flags_by_name(flags.FLAGS)
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


def starting_line(module, argv=None):
    """A long tool's first line, printed before TensorFlow loads, so a person sees it start within
    a second or two: ``<PROGRESS_NAME>: starting (loading TensorFlow) ...``. Only for a module
    that sets ``PROGRESS_NAME`` (the studies, the simulator grid, the formula fits), not for
    ``--help``. Such a tool's stdout is also made line-buffered: a log piped to a file gets each
    progress line at once."""
    argv = sys.argv[1:] if argv is None else argv
    name = getattr(module, "PROGRESS_NAME", None)
    if not name or any(a.split("=")[0] in ("-h", "--help", "-help", "--helpfull", "--helpshort") for a in argv):
        return
    sys.stdout.reconfigure(line_buffering=True)
    print(f"{name}: starting (loading TensorFlow) ...", flush=True)


def run(main):
    """``absl.app.run`` with :func:`parse_flags`; ConfigError or OSError (full disk, unwritable path)
    from ``main`` is one ``error:`` line and exit 2. A long tool says it is starting first
    (:func:`starting_line`).

    A command module may define ``precheck()``: it runs after the flags are parsed and before
    TensorFlow is imported (``mtlzoo.config.check_config`` needs none), so bad input it finds
    exits with 2 without paying TensorFlow's start-up. A module that sets
    ``USES_TENSORFLOW = False`` (``mtlzoo zoo``) never imports it here."""
    from absl import app, flags

    from mtlzoo.cli._quiet import quiet_tensorflow
    from mtlzoo.errors import ConfigError

    module = sys.modules[main.__module__]
    loud = any(a == "--verbosity" or a.startswith(("--verbosity=", "-v=")) for a in sys.argv[1:])

    def wrapped(argv):
        from absl import logging

        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # keep TensorFlow's INFO chatter out of the output
        try:
            if getattr(module, "precheck", None) is not None:
                module.precheck()
            if getattr(module, "USES_TENSORFLOW", True):
                quiet_tensorflow(loud=flags.FLAGS["verbosity"].present)  # C++ start-up lines: mtlzoo/cli/_quiet.py
            return main(argv)
        except ConfigError as e:
            fail(str(e))
        except OSError as e:  # a full disk, an unwritable path: one line; atomic writes kept what was saved
            where = f" {e.filename}" if getattr(e, "filename", None) else ""
            fail(f"cannot write or read{where}: {e.strerror or e}")

    _help_for(module)
    starting_line(module)
    if loud:  # TensorFlow's C++ logs on (set before anything imports it)
        quiet_tensorflow(loud=True)
    app.run(wrapped, flags_parser=parse_flags)


def _help_for(module):
    """Makes ``--help`` show ``module``'s docstring and flags when it is not ``__main__`` itself
    (the ``mtlzoo`` command and the ``tools/*.py`` shims run a main defined in ``mtlzoo.cli``)."""
    from absl import flags

    main = sys.modules["__main__"]
    if module is main:
        return
    main.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
