"""Atomic writes: a reader sees the old file or the new one, never half of one.

Every write of the package that must not be seen half-done goes through this module:

* :func:`atomic_path`: a context manager yielding a temporary path beside ``path``; the
  caller writes it (``model.save(tmp)``, ``fig.savefig(tmp)``), and on a clean exit it is
  renamed onto ``path`` with ``os.replace`` (on an error it is removed, ``path`` untouched).
* :func:`atomic_open`: the same around ``open(tmp, mode)``, with an optional ``fsync`` so
  the new content is durable before the rename.
* :func:`write_text` and :func:`write_json`: a whole text / JSON document in one call.
* :func:`swap_into_place`: a directory built aside (``tmp``) becomes ``target``; an existing
  ``target`` is moved aside first and removed only once the new one is in place.

Example:
    >>> with atomic_open("/tmp/table.md") as f:
    ...     _ = f.write("| a |\\n")
"""

import contextlib
import json
import math
import os
import shutil
import time
import uuid


def _nan_to_null(x):
    if isinstance(x, dict):
        return {k: _nan_to_null(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_to_null(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a fresh temporary path in ``path``'s directory; renames it onto ``path`` on success.

    ``suffix`` ends the temporary name (``".keras"``, ``".png"``: writers that pick a format
    from the extension). The name starts with a dot and holds a random part, so concurrent
    writers of one ``path`` never share a temporary file. On an exception the temporary
    file is removed and ``path`` keeps its old content.
    """
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path, mode="w", fsync=False, **open_kwargs):
    """``open`` for writing that replaces ``path`` only once the file is closed without error.

    ``fsync=True`` flushes and fsyncs the file before the rename (durable across a crash).
    """
    if not any(c in mode for c in "wx"):
        raise ValueError(f"atomic_open writes a whole new file; mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode.replace("x", "w"), **open_kwargs) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())


def write_text(text, path, fsync=False):
    """Writes the string ``text`` to ``path`` atomically (UTF-8); returns ``path``."""
    with atomic_open(path, "w", fsync=fsync, encoding="utf-8") as f:
        f.write(text)
    return path


def write_json(obj, path, nan_to_null=False, indent=2, sort_keys=True):
    """Writes ``obj`` as JSON (indented, keys sorted unless told otherwise) atomically; returns ``path``.

    ``nan_to_null``: non-finite floats become ``null`` (strict JSON) instead of ``NaN``.
    """
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(_nan_to_null(obj) if nan_to_null else obj, f, indent=indent, sort_keys=sort_keys)
    return path


def swap_into_place(tmp, target, stale_after_s=600):
    """Renames the finished directory ``tmp`` to ``target`` (same file system), replacing
    an existing ``target``: it is renamed aside, the new one renamed in, then the old removed.

    Then removes what killed runs writing the same ``target`` left beside it: hidden
    directories named like ``tmp`` but for the random tail (``.tmp-<name>-<random>``) and
    ``.old-<name>-<random>`` ones, untouched for ``stale_after_s`` seconds (so a concurrent
    writer's live temporary directory is kept)."""
    parent, name = os.path.split(target.rstrip(os.sep))
    if os.path.exists(target):
        old = os.path.join(parent, f".old-{name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)
    prefixes = (os.path.basename(tmp.rstrip(os.sep)).rsplit("-", 1)[0] + "-", f".old-{name}-")
    now = time.time()
    for entry in os.scandir(parent or "."):
        if entry.name.startswith(prefixes) and entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(OSError):
                if now - entry.stat(follow_symlinks=False).st_mtime > stale_after_s:
                    shutil.rmtree(entry.path, ignore_errors=True)
    return target
