"""What an upload must be: a JSON body of metadata and base64 files, each checked and capped.

Body: {"metadata": {title, abstract, topic, metrics, run_id, lab, ...},
       "files": {"tex": b64, "pdf": b64 (optional), "bib": b64 (optional)}}.
Every refusal names the field and says what was expected.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from labcoat.untrusted import UntrustedFileError, loads

MB = 1024 * 1024
REQUIRED_TEXT = ("title", "abstract", "topic", "run_id", "lab")
FILE_NAMES = {"pdf": "paper.pdf", "tex": "paper.tex", "bib": "paper.bib"}
MAX_TITLE = 500


@dataclass(frozen=True)
class Limits:
    pdf_bytes: int = 50 * MB
    tex_bytes: int = 5 * MB
    bib_bytes: int = 2 * MB
    metadata_bytes: int = 256 * 1024

    def file_cap(self, kind: str) -> int:
        return {"pdf": self.pdf_bytes, "tex": self.tex_bytes, "bib": self.bib_bytes}[kind]

    @property
    def body_bytes(self) -> int:
        """Largest acceptable request body: base64 grows files by 4/3, plus JSON framing."""
        files = self.pdf_bytes + self.tex_bytes + self.bib_bytes
        return files * 4 // 3 + self.metadata_bytes * 2 + 64 * 1024


class UploadRejected(Exception):
    """A bad upload: `status` is the HTTP status, `field` the offending field."""

    def __init__(self, status: int, field: str, message: str):
        self.status = status
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass
class Upload:
    metadata: dict
    files: dict[str, bytes] = field(default_factory=dict)  # kind ("pdf", "tex", "bib") -> bytes


def parse_upload(body: bytes, limits: Limits) -> Upload:
    try:
        data = loads(body, "the body")
    except (UnicodeDecodeError, UntrustedFileError) as exc:
        raise UploadRejected(400, "body", f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UploadRejected(400, "body", "must be a JSON object with 'metadata' and 'files'")
    metadata = check_metadata(data.get("metadata"), limits)
    files_in = data.get("files")
    if not isinstance(files_in, dict):
        raise UploadRejected(422, "files", "missing: an object {\"tex\": base64, \"pdf\": base64, \"bib\": base64}")
    unknown = sorted(set(files_in) - set(FILE_NAMES))
    if unknown:
        raise UploadRejected(422, f"files.{unknown[0]}", f"unknown file kind; expected one of {sorted(FILE_NAMES)}")
    files: dict[str, bytes] = {}
    for kind, encoded in files_in.items():
        if encoded is None:
            continue
        files[kind] = _decode(kind, encoded, limits)
    if "tex" not in files:
        raise UploadRejected(422, "files.tex", "missing: the report's LaTeX source is required")
    _check_tex(files["tex"])
    if "pdf" in files:
        _check_pdf(files["pdf"])
    if "bib" in files:
        _check_text("files.bib", files["bib"])
    return Upload(metadata=metadata, files=files)


def check_metadata(metadata: object, limits: Limits) -> dict:
    if not isinstance(metadata, dict):
        raise UploadRejected(422, "metadata", "missing: an object with title, abstract, topic, metrics, run_id, lab")
    if len(json.dumps(metadata)) > limits.metadata_bytes:
        raise UploadRejected(413, "metadata", f"larger than the cap of {limits.metadata_bytes} bytes")
    for name in REQUIRED_TEXT:
        value = metadata.get(name)
        if value is None:
            raise UploadRejected(422, f"metadata.{name}", "missing (required)")
        if not isinstance(value, str) or not value.strip():
            raise UploadRejected(422, f"metadata.{name}", f"must be a non-empty string, got {value!r:.80}")
    if len(metadata["title"]) > MAX_TITLE:
        raise UploadRejected(422, "metadata.title", f"longer than {MAX_TITLE} characters")
    metrics = metadata.get("metrics")
    if metrics is None:
        raise UploadRejected(422, "metadata.metrics", "missing (required; {} when the run measured nothing)")
    if not isinstance(metrics, dict):
        raise UploadRejected(422, "metadata.metrics", f"must be an object of name -> value, got {type(metrics).__name__}")
    return metadata


def _decode(kind: str, encoded: object, limits: Limits) -> bytes:
    where = f"files.{kind}"
    if not isinstance(encoded, str):
        raise UploadRejected(422, where, "must be a base64 string")
    cap = limits.file_cap(kind)
    if len(encoded) * 3 // 4 > cap + 3:
        raise UploadRejected(413, where, f"larger than the cap of {cap} bytes")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadRejected(422, where, f"not valid base64 ({exc})") from None
    if len(data) > cap:
        raise UploadRejected(413, where, f"{len(data)} bytes, larger than the cap of {cap} bytes")
    if not data:
        raise UploadRejected(422, where, "empty")
    return data


def _check_pdf(data: bytes) -> None:
    if not data.startswith(b"%PDF-"):
        raise UploadRejected(415, "files.pdf", f"not a PDF (starts with {data[:8]!r}, expected b'%PDF-')")
    if b"%%EOF" not in data[-2048:]:
        raise UploadRejected(422, "files.pdf", "truncated PDF (no %%EOF marker at its end)")


def _check_text(where: str, data: bytes) -> str:
    if b"\x00" in data:
        raise UploadRejected(415, where, "binary data, expected a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadRejected(415, where, f"not UTF-8 text ({exc})") from None


def _check_tex(data: bytes) -> None:
    text = _check_text("files.tex", data)
    for marker in ("\\documentclass", "\\begin{document}"):
        if marker not in text:
            raise UploadRejected(422, "files.tex", f"not a LaTeX document (no {marker})")
