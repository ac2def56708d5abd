"""Atomic writes: a reader sees the old file or the new one, never half of one.

* :func:`write_json`: JSON to a temporary file beside ``path``, then ``os.replace``.
* :func:`swap_into_place`: a directory built aside (``tmp``) becomes ``target``; an existing
  ``target`` is moved aside first and removed only once the new one is in place.
"""

import json
import math
import os
import shutil
import uuid


def _nan_to_null(x):
    if isinstance(x, dict):
        return {k: _nan_to_null(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_to_null(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(obj, path, nan_to_null=False):
    """Writes ``obj`` as indented, key-sorted JSON atomically; returns ``path``.

    ``nan_to_null``: non-finite floats become ``null`` (strict JSON) instead of ``NaN``.
    """
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(_nan_to_null(obj) if nan_to_null else obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
    return path


def swap_into_place(tmp, target):
    """Renames the finished directory ``tmp`` to ``target`` (same file system), replacing
    an existing ``target``: it is renamed aside, the new one renamed in, then the old removed."""
    if os.path.exists(target):
        parent, name = os.path.split(target.rstrip(os.sep))
        old = os.path.join(parent, f".old-{name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)
    return target


def write_text(text, path):
    """Writes the string ``text`` to ``path`` atomically (UTF-8); returns ``path``."""
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
