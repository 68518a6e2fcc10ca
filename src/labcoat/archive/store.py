"""The archive on disk: one SQLite file (WAL, FTS5 index) and a folder of files per paper.

    DIR/archive.db            papers, their FTS5 index, stored embeddings
    DIR/papers/000123/        paper.tex, paper.pdf, paper.bib, metadata.json
    DIR/staging/              uploads being written (renamed into papers/ on commit)

An upload is written to staging first, then one transaction takes an id,
renames the folder into place and indexes it: concurrent uploads each get their
own id and a reader never sees a half-written paper.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from labcoat.archive.validate import FILE_NAMES, Upload, UploadRejected
from labcoat.tools import latexsrc
from labcoat.tools.errors import ToolError

SCHEMA = """
CREATE TABLE IF NOT EXISTS papers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL, abstract TEXT NOT NULL, topic TEXT NOT NULL, lab TEXT NOT NULL, run_id TEXT NOT NULL,
    metadata TEXT NOT NULL, files TEXT NOT NULL, document TEXT NOT NULL, created TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS papers_fts USING fts5(title, abstract, topic, lab, body);
CREATE TABLE IF NOT EXISTS embeddings (
    paper INTEGER PRIMARY KEY REFERENCES papers(id), model TEXT NOT NULL, vector BLOB NOT NULL
);
"""
ID_RE = re.compile(r"^(?:archive:)?0*(\d{1,12})$")
# Column weights for BM25: a hit in the title counts most, the body least.
BM25 = "bm25(papers_fts, 10.0, 5.0, 3.0, 1.0, 1.0)"


class ArchiveStoreError(Exception):
    """The archive folder is unusable (not writable, corrupt database)."""


def paper_id(number: int) -> str:
    return f"archive:{number:06d}"


def parse_id(text: str) -> int | None:
    """'archive:000123', '000123' or '123' -> 123; None for anything else."""
    m = ID_RE.match(str(text).strip())
    return int(m.group(1)) if m else None


def fts_query(query: str) -> str:
    """Free text to an FTS5 query matching any of its words: no user text is FTS5 syntax."""
    words = re.findall(r"\w+", query.lower())
    return " OR ".join(f'"{w}"' for w in words[:32])


class ArchiveStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.db_path = self.root / "archive.db"
        try:
            (self.root / "papers").mkdir(parents=True, exist_ok=True)
            (self.root / "staging").mkdir(exist_ok=True)
            with self._session() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveStoreError(f"cannot open the archive at {self.root}: {exc}") from exc
        # Semantic search keeps the stored vectors in memory, loaded incrementally.
        self._vectors_lock = threading.Lock()
        self._vectors: dict[str, tuple[list[int], object]] = {}

    @contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=60, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=60000")
        return db

    # -- writing -------------------------------------------------------------
    def add(self, upload: Upload, *, vector: bytes | None = None, model: str | None = None) -> dict:
        """Store one upload; returns its record. The files land only if the transaction commits."""
        tex = upload.files["tex"]
        try:
            document = latexsrc.to_document({"paper.tex": tex})
        except ToolError as exc:
            raise UploadRejected(422, "files.tex", f"cannot read the LaTeX source: {exc}") from None
        body = "\n\n".join(f"{s['name']}\n{s['text']}" for s in document["sections"])
        meta = upload.metadata
        staging = self.root / "staging" / uuid.uuid4().hex
        files = self._write_staging(staging, upload)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        final: Path | None = None
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute(
                "INSERT INTO papers (title, abstract, topic, lab, run_id, metadata, files, document, created) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (meta["title"].strip(), meta["abstract"].strip(), meta["topic"].strip(), meta["lab"].strip(),
                 meta["run_id"].strip(), json.dumps(meta), json.dumps(files),
                 json.dumps({"title": document["title"], "sections": document["sections"]}), created))
            number = int(cur.lastrowid)
            db.execute("INSERT INTO papers_fts (rowid, title, abstract, topic, lab, body) VALUES (?,?,?,?,?,?)",
                       (number, meta["title"], meta["abstract"], meta["topic"], meta["lab"], body))
            if vector is not None:
                db.execute("INSERT INTO embeddings (paper, model, vector) VALUES (?,?,?)", (number, model, vector))
            final = self.root / "papers" / f"{number:06d}"
            if final.exists():  # left by a crash between rename and commit: never committed, so garbage
                shutil.rmtree(final)
            os.replace(staging, final)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if final is not None and final.exists():
                shutil.rmtree(final, ignore_errors=True)
            raise
        finally:
            db.close()
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.get(number)

    @staticmethod
    def _write_staging(staging: Path, upload: Upload) -> dict:
        staging.mkdir(parents=True)
        files = {}
        for kind, data in upload.files.items():
            name = FILE_NAMES[kind]
            _write_synced(staging / name, data)
            files[kind] = {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        _write_synced(staging / "metadata.json", json.dumps(upload.metadata, indent=2).encode("utf-8"))
        return files

    # -- reading -------------------------------------------------------------
    def count(self) -> int:
        with self._session() as db:
            return int(db.execute("SELECT count(*) FROM papers").fetchone()[0])

    def get(self, number: int) -> dict | None:
        with self._session() as db:
            row = db.execute("SELECT * FROM papers WHERE id=?", (number,)).fetchone()
        return _record(row) if row else None

    def document(self, number: int) -> dict | None:
        with self._session() as db:
            row = db.execute("SELECT document FROM papers WHERE id=?", (number,)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, *, limit: int = 50, offset: int = 0) -> list[dict]:
        with self._session() as db:
            rows = db.execute("SELECT * FROM papers ORDER BY id DESC LIMIT ? OFFSET ?",
                              (limit, offset)).fetchall()
        return [_record(r) for r in rows]

    def file_path(self, number: int, kind: str) -> Path | None:
        record = self.get(number)
        if record is None or kind not in record["files"]:
            return None
        return self.root / "papers" / f"{number:06d}" / record["files"][kind]["name"]

    def search_fts(self, query: str, *, limit: int) -> list[dict]:
        q = fts_query(query)
        if not q:
            return []
        with self._session() as db:
            rows = db.execute(
                f"SELECT p.*, {BM25} AS rank, snippet(papers_fts, -1, '**', '**', ' ... ', 32) AS snip "
                "FROM papers_fts JOIN papers p ON p.id = papers_fts.rowid WHERE papers_fts MATCH ? "
                "ORDER BY rank LIMIT ?", (q, limit)).fetchall()
        # bm25() is lower-is-better and negative: report a positive score.
        return [{**_record(r), "score": round(-float(r["rank"]), 6), "snippet": r["snip"]} for r in rows]

    # -- embeddings ----------------------------------------------------------
    def missing_embeddings(self, model: str) -> list[tuple[int, str]]:
        with self._session() as db:
            rows = db.execute("SELECT p.id, p.title, p.abstract FROM papers p LEFT JOIN embeddings e "
                              "ON e.paper = p.id AND e.model = ? WHERE e.paper IS NULL ORDER BY p.id",
                              (model,)).fetchall()
        return [(int(r["id"]), embedding_text(r["title"], r["abstract"])) for r in rows]

    def put_embedding(self, number: int, model: str, vector: bytes) -> None:
        with self._session() as db:
            db.execute("INSERT OR REPLACE INTO embeddings (paper, model, vector) VALUES (?,?,?)",
                       (number, model, vector))

    def vectors(self, model: str, load) -> tuple[list[int], object]:
        """(paper numbers, matrix) of every stored vector; `load(blobs, previous)` builds the matrix."""
        with self._vectors_lock:
            ids, matrix = self._vectors.get(model, ([], None))
            last = ids[-1] if ids else 0
            with self._session() as db:
                rows = db.execute("SELECT paper, vector FROM embeddings WHERE model=? AND paper>? ORDER BY paper",
                                  (model, last)).fetchall()
            if rows:
                ids = ids + [int(r["paper"]) for r in rows]
                matrix = load([r["vector"] for r in rows], matrix)
                self._vectors[model] = (ids, matrix)
            return ids, matrix


def embedding_text(title: str, abstract: str) -> str:
    return f"{title}\n{abstract}"


def _record(row: sqlite3.Row) -> dict:
    meta = json.loads(row["metadata"])
    document = json.loads(row["document"])
    return {
        "id": paper_id(int(row["id"])), "number": int(row["id"]), "title": row["title"],
        "abstract": row["abstract"], "topic": row["topic"], "lab": row["lab"], "run_id": row["run_id"],
        "metrics": meta.get("metrics", {}), "metadata": meta, "files": json.loads(row["files"]),
        "sections": [s["name"] for s in document["sections"]], "created": row["created"],
    }


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
