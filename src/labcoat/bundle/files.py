"""Bundle files: hashing, the manifest, and unpacking a zip without trusting it.

A bundle may come from anyone. Unpacking refuses members that would land
outside the destination (absolute paths, `..`), links and device files, and
members or totals larger than the caps, before writing a byte; verification
names the first file whose sha256 differs from the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from labcoat.bundle import FORMAT
from labcoat.errors import LabcoatError
from labcoat.untrusted import UntrustedFileError, open_regular

MANIFEST = "MANIFEST.json"
MAX_MEMBER_BYTES = 4 << 30
MAX_TOTAL_BYTES = 16 << 30
MAX_MEMBERS = 200_000
MAX_RATIO = 200  # a member that inflates more than this is a zip bomb, not data


class BundleError(LabcoatError):
    """A bundle that cannot be trusted or used as it is."""


def sha256_file(path: Path, root: Path | None = None) -> str:
    """sha256 of a regular file, opened without following links (see labcoat.untrusted)."""
    try:
        fd = open_regular(Path(path).absolute(), Path(root).absolute() if root else None)
    except (UntrustedFileError, OSError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_hashes(root: Path, skipped: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every regular file under `root` as {relative posix path: {sha256, bytes}}.

    Links, pipes and devices are refused, or, when `skipped` is given (a folder a program wrote), left out
    and named there. Linked directories are never entered.
    """
    out: dict[str, dict[str, Any]] = {}
    root = Path(root).absolute()
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        odd = [d for d in dirnames if (base / d).is_symlink()]
        dirnames[:] = sorted(d for d in dirnames if d not in odd)
        for name in sorted([*filenames, *odd]):
            path = base / name
            rel = path.relative_to(root).as_posix()
            try:
                fd = open_regular(path, root)
            except (UntrustedFileError, OSError) as exc:
                if skipped is None:
                    raise BundleError(f"{rel} in {root} is not a plain file ({exc}); a bundle holds plain files only")
                skipped.append(f"{rel} in {root} is not a plain file; left out")
                continue
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
            out[rel] = {"sha256": digest.hexdigest(), "bytes": size}
    return dict(sorted(out.items()))


def write_manifest(root: Path, run_id: str) -> dict[str, Any]:
    files = {k: v for k, v in tree_hashes(root).items() if k != MANIFEST}
    manifest = {"format": FORMAT, "run_id": run_id, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def verify(root: Path) -> dict[str, Any]:
    """The manifest, after checking every listed file's sha256 and that no file was added."""
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} is not a labcoat bundle: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path} declares format {manifest.get('format')!r}; this labcoat reads {FORMAT}")
    listed: dict[str, dict[str, Any]] = manifest.get("files") or {}
    present = {k: v for k, v in tree_hashes(root).items() if k != MANIFEST}
    for name, entry in sorted(listed.items()):
        if name not in present:
            raise BundleError(f"the bundle is incomplete: {name} is listed in {MANIFEST} but missing")
        if present[name]["sha256"] != entry.get("sha256"):
            raise BundleError(f"the bundle was changed: {name} has sha256 {present[name]['sha256'][:16]}…, "
                              f"the manifest says {str(entry.get('sha256'))[:16]}…; refusing to reproduce from it")
    extra = sorted(set(present) - set(listed))
    if extra:
        raise BundleError(f"the bundle was changed: {extra[0]} is not listed in {MANIFEST}"
                          + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    return manifest


def _member_target(dest: Path, info: zipfile.ZipInfo) -> Path:
    name = info.filename
    pure = PurePosixPath(name)
    if name.startswith(("/", "\\")) or pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in pure.parts[0]:
        raise BundleError(f"refusing the zip: member {name!r} would be written outside the bundle folder")
    kind_bits = stat.S_IFMT(info.external_attr >> 16)  # zero when the archiver recorded permissions only
    if kind_bits and kind_bits not in (stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if kind_bits == stat.S_IFLNK else "not a plain file"
        raise BundleError(f"refusing the zip: member {name!r} is {kind}")
    return dest / pure


def unpack(archive: Path, dest: Path) -> Path:
    """Extract `archive` into `dest` after checking every member; returns the bundle root inside it."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{archive} is not a readable zip file: {exc}") from exc
    with zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise BundleError(f"refusing the zip: {len(members)} members, over the cap of {MAX_MEMBERS}")
        total = 0
        for info in members:
            _member_target(dest, info)
            if info.file_size > MAX_MEMBER_BYTES:
                raise BundleError(f"refusing the zip: member {info.filename!r} unpacks to {info.file_size} bytes, "
                                  f"over the cap of {MAX_MEMBER_BYTES}")
            if info.compress_size and info.file_size > 1 << 20 and info.file_size / info.compress_size > MAX_RATIO:
                raise BundleError(f"refusing the zip: member {info.filename!r} inflates {info.file_size} bytes "
                                  f"from {info.compress_size} (a zip bomb?)")
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise BundleError(f"refusing the zip: it unpacks to {total} bytes, over the cap of {MAX_TOTAL_BYTES}")
        dest.mkdir(parents=True, exist_ok=True)
        for info in members:
            target = _member_target(dest, info)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "wb") as out:
                # the header's size may lie: count what actually comes out
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > info.file_size:
                        raise BundleError(f"refusing the zip: member {info.filename!r} is larger than its header says")
                    out.write(block)
    return bundle_root(dest)


def bundle_root(folder: Path) -> Path:
    """The folder holding MANIFEST.json: `folder` itself or its only subfolder."""
    if (folder / MANIFEST).is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    if len(subs) == 1 and (subs[0] / MANIFEST).is_file():
        return subs[0]
    raise BundleError(f"{folder} holds no labcoat bundle ({MANIFEST} not found)")


def pack(root: Path, archive: Path) -> Path:
    """Zip the bundle folder `root` as `archive`, members under the folder's name."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    # written aside and renamed: a reader (the dashboard's download) never sees half a zip
    fd, part = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".part", dir=archive.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, f"{root.name}/{path.relative_to(root).as_posix()}")
        os.replace(part, archive)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return archive
