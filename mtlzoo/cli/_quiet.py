"""TensorFlow's C++ start-up noise out of the tools' output.

Importing TensorFlow and its first look at the devices print a handful of C++ log lines
on stderr (oneDNN notices, CPU-feature hints, ``failed call to cuInit`` on a machine
without a GPU). They are written by the C++ runtime straight to file descriptor 2, some
before ``TF_CPP_MIN_LOG_LEVEL`` is read, so :func:`quiet_tensorflow` points descriptor 2
at ``/dev/null`` while it imports TensorFlow and lists the physical devices, then puts it
back: later warnings and errors, and any Python traceback, are shown as before.
``--verbosity`` (absl's flag) on the command line keeps everything.
"""

import os
import sys


def quiet_tensorflow(loud=False):
    """Imports TensorFlow with its start-up logging discarded (``loud``: C++ logs on, nothing hidden)."""
    if loud:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    if "tensorflow" in sys.modules:  # already started: nothing left to hide
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()  # the platform probe (cuInit) happens here
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
