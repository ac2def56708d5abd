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

Paths with a scheme (``gs://``, ``s3://``, ``hdfs://``, ``ram://``: :func:`is_remote`) go through
``tf.io.gfile`` (TensorFlow is imported only for them): :func:`makedirs`, :func:`exists`,
:func:`isdir`, :func:`isfile`, :func:`listdir`, :func:`glob`, :func:`open_file`, :func:`copy`,
:func:`rmtree`. Object stores have no atomic rename, so :func:`atomic_path` on a remote
path has the caller write a local temporary file, uploads it beside ``path`` under a
hidden temporary name and moves it onto ``path`` with ``tf.io.gfile.rename(overwrite=True)``
(a GCS object appears whole or not at all); libraries that only write local files (h5py's
``.weights.h5``) thus write remote paths too. :func:`local_copy` is the reading side: a
remote file downloaded to a temporary local file for such a library.

Example:
    >>> with atomic_open("/tmp/table.md") as f:
    ...     _ = f.write("| a |\\n")
"""

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
import uuid


def is_remote(path):
    """True for a path with a scheme (``gs://b/x``, ``ram://x``): served by ``tf.io.gfile``."""
    return "://" in str(path)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def makedirs(path):
    """Creates ``path`` and its parents (no error if it exists)."""
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def exists(path):
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path):
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path):
    if is_remote(path):
        return _gfile().exists(path) and not _gfile().isdir(path)
    return os.path.isfile(path)


def listdir(path):
    """Names in directory ``path`` (no trailing slashes)."""
    if is_remote(path):
        return [n.rstrip("/") for n in _gfile().listdir(path)]
    return os.listdir(path)


def glob(pattern):
    import glob as _glob

    return _gfile().glob(pattern) if is_remote(pattern) else _glob.glob(pattern)


def open_file(path, mode="r", encoding="utf-8"):
    """``open`` for local paths (text in ``encoding``), ``tf.io.gfile.GFile`` for remote ones."""
    if is_remote(path):
        return _gfile().GFile(path, mode)
    return open(path, mode) if "b" in mode else open(path, mode, encoding=encoding)


def copy(src, dst, overwrite=True):
    """Copies one file, between any two file systems."""
    if is_remote(src) or is_remote(dst):
        _gfile().copy(src, dst, overwrite=overwrite)
    else:
        shutil.copyfile(src, dst)


def rmtree(path):
    """Removes a directory tree; no error if it is missing."""
    if is_remote(path):
        import tensorflow as tf

        with contextlib.suppress(tf.errors.NotFoundError):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def remove(path):
    """Removes one file, local or remote."""
    if is_remote(path):
        _gfile().remove(path)
    else:
        os.remove(path)


@contextlib.contextmanager
def local_copy(path, suffix=""):
    """Yields a local path holding ``path``'s content (``path`` itself when it is local)."""
    if not is_remote(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="mtlzoo-")
    try:
        local = os.path.join(folder, "file" + (suffix or os.path.splitext(path.rstrip("/"))[1]))
        if path.endswith(".weights.h5"):
            local = os.path.join(folder, "file.weights.h5")
        _gfile().copy(path, local, overwrite=True)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    if is_remote(path):
        with _remote_atomic_path(path, suffix) as tmp:
            yield tmp
        return
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
def _remote_atomic_path(path, suffix):
    """A local temporary file, uploaded beside ``path`` and renamed onto it on success."""
    folder, name = path.rstrip("/").rsplit("/", 1)
    staging = tempfile.mkdtemp(prefix="mtlzoo-")
    remote_tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp{suffix}"
    try:
        local = os.path.join(staging, f"staged{suffix}")
        yield local
        gfile = _gfile()
        gfile.copy(local, remote_tmp, overwrite=True)
        gfile.rename(remote_tmp, path, overwrite=True)
    except BaseException:
        with contextlib.suppress(Exception):
            if _gfile().exists(remote_tmp):
                _gfile().remove(remote_tmp)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    writer's live temporary directory is kept). Remote directories are renamed with ``tf.io.gfile``
    (object stores copy each object)."""
    if is_remote(target):
        return _remote_swap(tmp, target)
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


def _remote_rename_dir(src, dst):
    """Moves a directory tree file by file: object stores have no directories to rename, and
    ``tf.io.gfile.rename`` of a ``ram://`` directory moves the directory entry without its files."""
    gfile = _gfile()
    for folder, _, files in gfile.walk(src):
        rel = folder[len(src.rstrip("/")) :].lstrip("/")
        out = f"{dst.rstrip('/')}/{rel}" if rel else dst
        gfile.makedirs(out)
        for f in files:
            path = f"{folder.rstrip('/')}/{f}"
            # ram:// lists by name prefix: "assets" also shows ".extra" of "assets.extra"
            if gfile.exists(path) and not gfile.isdir(path):
                gfile.copy(path, f"{out}/{f}", overwrite=True)
    rmtree(src)


def _remote_swap(tmp, target):
    gfile = _gfile()
    if gfile.exists(target):
        parent, name = target.rstrip("/").rsplit("/", 1)
        old = f"{parent}/.old-{name}-{uuid.uuid4().hex[:8]}"
        _remote_rename_dir(target, old)
        _remote_rename_dir(tmp, target)
        gfile.rmtree(old)
    else:
        _remote_rename_dir(tmp, target)
    return target
