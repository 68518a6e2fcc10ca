"""Reading files a program (or a stranger) left, without trusting them.

Everything an LLM-written program writes, an uploaded paper, a PDF to render,
is read through here: regular files only (a FIFO would block the reader
forever, a device never ends, a link could point at any of the user's
files), opened without blocking and without following links (every
directory from `root` down too, when given), size-capped, and JSON parsed
under a nesting limit (deep nesting ends Python's parser in RecursionError).
A violation raises `UntrustedFileError` saying what was wrong with which
file; callers record it as that program's or phase's error.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_JSON_DEPTH = 64


class UntrustedFileError(ValueError):
    """A file that is not a regular file, too large, or not the JSON it should be."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _inside(path: Path, root: Path) -> Path:
    """`path` relative to `root`: given inside it (both absolute, both relative to the working directory, or
    one of each), or already relative to it."""
    for candidate, base in ((path, root), (Path(os.path.abspath(path)), Path(os.path.abspath(root)))):
        try:
            return candidate.relative_to(base)
        except ValueError:
            continue
    if path.is_absolute():
        raise UntrustedFileError(f"{path}: goes outside {root}")
    return path


def open_regular(path: str | os.PathLike, root: str | os.PathLike | None = None) -> int:
    """An fd for reading `path`, refused unless it is a regular file reached without links.

    With `root`, `path` is relative to it (or inside it) and no directory on the way may be a link.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    path = Path(path)
    dir_fd = None
    try:
        if root is not None:
            rel = _inside(path, Path(root))
            if ".." in rel.parts:
                raise UntrustedFileError(f"{path}: goes outside {root}")
            dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for part in rel.parts[:-1]:
                try:
                    step = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                except OSError as exc:
                    raise UntrustedFileError(f"{path}: {part} is not a plain directory ({exc.strerror})") from exc
                os.close(dir_fd)
                dir_fd = step
            name: str | Path = rel.parts[-1] if rel.parts else "."
        else:
            name = path
        try:
            fd = os.open(name, flags, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: the last component is a link
                raise UntrustedFileError(f"{path} is a symbolic link; write the file itself") from exc
            if isinstance(exc, FileNotFoundError):
                raise
            raise UntrustedFileError(f"{path} cannot be opened: {exc.strerror}") from exc
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UntrustedFileError(f"{path} is {_kind(mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd


def read_bytes(path: str | os.PathLike, max_bytes: int, root: str | os.PathLike | None = None) -> bytes:
    """The whole file, refused when larger than `max_bytes`."""
    fd = open_regular(path, root)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise UntrustedFileError(f"{path} is {size} bytes, more than the {max_bytes} allowed")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we read
        raise UntrustedFileError(f"{path} is more than the {max_bytes} bytes allowed")
    return data


def read_tail(path: str | os.PathLike, max_bytes: int, root: str | os.PathLike | None = None) -> bytes:
    """At most the last `max_bytes` of the file (logs: errors come at the end)."""
    fd = open_regular(path, root)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - max_bytes))
        return handle.read(max_bytes)


def read_text(path: str | os.PathLike, max_bytes: int, root: str | os.PathLike | None = None) -> str:
    return read_bytes(path, max_bytes, root).decode("utf-8", errors="replace")


def json_depth_problem(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why `text` nests deeper than `max_depth` (brackets inside strings ignored), or None."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return f"nests deeper than {max_depth} levels"
        elif ch in "]}":
            depth -= 1
    return None


def loads(text: str | bytes, what: str = "the JSON", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` under a nesting limit; a problem raises UntrustedFileError naming `what`."""
    problem = json_depth_problem(text, max_depth)
    if problem:
        raise UntrustedFileError(f"{what} {problem}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UntrustedFileError(f"{what} is not valid JSON: {exc}") from exc


def read_json(path: str | os.PathLike, max_bytes: int, root: str | os.PathLike | None = None,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    return loads(read_bytes(path, max_bytes, root), str(path), max_depth)


def copy_file(src: str | os.PathLike, dst: str | os.PathLike, max_bytes: int,
              root: str | os.PathLike | None = None) -> None:
    """Copy a regular file of at most `max_bytes` to `dst` (written fresh, never through a link)."""
    data = read_bytes(src, max_bytes, root)
    dst = Path(dst)
    if dst.is_symlink():
        dst.unlink()
    dst.write_bytes(data)
