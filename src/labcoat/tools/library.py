"""A local folder of PDFs (and optional .bib files) as a searchable literature source (SQLite FTS5).

A .bib entry with no PDF beside it is a paper too when it carries an
`abstract` (or an `annote`): its text is that field. That lets a researcher
point labcoat at the reference list they already keep, and lets a run work
offline from references alone.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import unicodedata
from pathlib import Path

from labcoat.tools import bibtex, fulltext
from labcoat.tools.errors import ToolError

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, mtime REAL NOT NULL, size INTEGER NOT NULL,
    paper TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(id UNINDEXED, title, authors, abstract, body);
CREATE TABLE IF NOT EXISTS problems (path TEXT PRIMARY KEY, mtime REAL NOT NULL, message TEXT NOT NULL);
"""
MAX_FILES = 5000
MAX_PDF_BYTES = 200 * 1024 * 1024


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "paper"


def fts_query(query: str) -> str:
    """Free text to an FTS5 query: any of the words, so no user text is FTS5 syntax."""
    words = re.findall(r"\w+", query.lower())
    return " OR ".join(f'"{w}"' for w in words[:30])


# TeX accent commands as Unicode combining marks: names written `Dem{\v{s}}ar`
# in a user's .bib reach the agents, cite keys and the report as `Demšar`.
ACCENTS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304",
           ".": "\u0307", "v": "\u030c", "c": "\u0327", "u": "\u0306", "H": "\u030b", "k": "\u0328"}
ACCENT = re.compile(r"""\\(["'`^~=.])\s*\{?([A-Za-z])\}?|\\([vcuHk])(?:\s*\{([A-Za-z])\}|\s+([A-Za-z]))""")
ESCAPED = re.compile(r"\\([&%$#_])")


def _plain(text: str) -> str:
    """A .bib value as plain Unicode text: accents resolved, escapes and braces dropped, spacing collapsed."""
    text = ACCENT.sub(lambda m: (m.group(2) or m.group(4) or m.group(5)) + ACCENTS[m.group(1) or m.group(3)], text)
    text = ESCAPED.sub(r"\1", text).replace("{", "").replace("}", "")
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _bib_text(entry: dict) -> str:
    fields = entry["fields"]
    return _plain(fields.get("abstract") or fields.get("annote") or "")


def _journal(fields: dict) -> str | None:
    """Where it appeared, with volume and pages when the .bib gives them (they go to the report's BibTeX)."""
    venue = fields.get("journal") or fields.get("booktitle") or fields.get("institution") or fields.get("publisher")
    if not venue:
        return None
    extra = [v for v in (fields.get("volume") and f"vol. {fields['volume']}",
                         fields.get("number") and f"no. {fields['number']}",
                         fields.get("pages") and f"pp. {fields['pages'].replace('--', '-')}") if v]
    return _plain(", ".join([venue, *extra]))


class LocalLibrary:
    """Index of the PDFs under `folder`; refreshed when files change (by mtime and size)."""

    name = "library"

    def __init__(self, folder: Path, index_path: Path, *, max_pages: int = 300):
        self.folder = Path(folder).expanduser()
        self.index_path = Path(index_path)
        self.max_pages = max_pages
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._fresh = False

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.index_path, timeout=30, check_same_thread=False)
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def refresh(self) -> dict:
        """Index new or changed PDFs, drop removed ones. Returns counts and per-file problems."""
        if not self.folder.is_dir():
            raise ToolError("bad_input", f"library folder {self.folder} does not exist or is not a folder",
                            source=self.name)
        with self._lock:
            db = self._db()
            pdfs = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())[:MAX_FILES]
            bib_files = self._bib_files()
            bib = {stem: e for _, stem, e in bib_files}
            pdf_stems = {p.stem.lower() for p in pdfs}
            standalone = [(f, e) for f, stem, e in bib_files if stem not in pdf_stems and _bib_text(e)]
            known = {row[0]: (row[1], row[2]) for row in db.execute("SELECT path, mtime, size FROM files")}
            bad = {row[0]: row[1] for row in db.execute("SELECT path, mtime FROM problems")}
            added = 0
            for pdf in pdfs:
                st = pdf.stat()
                key = str(pdf)
                if known.get(key) == (st.st_mtime, st.st_size) or bad.get(key) == st.st_mtime:
                    continue
                try:
                    self._index(db, pdf, st, bib)
                    db.execute("DELETE FROM problems WHERE path=?", (key,))
                    added += 1
                except ToolError as exc:
                    db.execute("INSERT OR REPLACE INTO problems(path, mtime, message) VALUES (?,?,?)",
                               (key, st.st_mtime, str(exc)))
            present = {str(p) for p in pdfs}
            for bib_file, e in standalone[:MAX_FILES]:
                st = bib_file.stat()
                key = f"{bib_file}#{e['key']}"
                present.add(key)
                if known.get(key) == (st.st_mtime, st.st_size):
                    continue
                added += self._index_entry(db, bib_file, key, st, e)
            for gone in set(known) - present:
                row = db.execute("SELECT id FROM files WHERE path=?", (gone,)).fetchone()
                db.execute("DELETE FROM files WHERE path=?", (gone,))
                db.execute("DELETE FROM fts WHERE id=?", (row[0],))
            db.commit()
            self._fresh = True
            problems = [{"path": p, "error": m} for p, m in db.execute("SELECT path, message FROM problems")
                        if p in present]
            total = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        return {"indexed": total, "added": added, "problems": problems}

    def _bib_files(self) -> list[tuple[Path, str, dict]]:
        """(.bib file, the PDF stem the entry describes — its `file` field or its key, entry)."""
        out: list[tuple[Path, str, dict]] = []
        for bib in sorted(self.folder.rglob("*.bib"))[:50]:
            for e in bibtex.parse(bib.read_text(encoding="utf-8", errors="replace")):
                f = e["fields"].get("file", "")
                stem = Path(f.split(":")[1] if f.count(":") >= 2 else f).stem if f else e["key"]
                out.append((bib, stem.lower(), e))
        return out

    def _index_entry(self, db: sqlite3.Connection, bib_file: Path, key: str, st, entry: dict) -> int:
        """A paper known only from its .bib entry: the abstract (or annote) is its whole text."""
        pid = "lib:" + slug(entry["key"])
        taken = db.execute("SELECT path FROM files WHERE id=?", (pid,)).fetchone()
        if taken is not None and taken[0] != key:
            return 0  # a PDF (or an earlier .bib) already has this name: the first one stays
        text = _bib_text(entry)
        name = "Abstract" if entry["fields"].get("abstract") else "Annotation"
        note = (f"Only this reference's {name.lower()} is in the library (no PDF), "
                f"from {bib_file.relative_to(self.folder)}.")
        doc = {"paper_id": pid, "format": "bib", "title": _plain(entry["fields"].get("title", "")), "pages": None,
               "sections": [{"name": name, "text": text}, {"name": "Note", "text": note}]}
        paper = self._paper(pid, None, doc, entry)
        db.execute("DELETE FROM fts WHERE id=?", (pid,))
        db.execute("INSERT OR REPLACE INTO files(path, id, mtime, size, paper, doc) VALUES (?,?,?,?,?,?)",
                   (key, pid, st.st_mtime, st.st_size, json.dumps(paper), json.dumps(doc)))
        db.execute("INSERT INTO fts(id, title, authors, abstract, body) VALUES (?,?,?,?,?)",
                   (pid, paper["title"], " ".join(paper["authors"]), paper["abstract"], text))
        return 1

    def _index(self, db: sqlite3.Connection, pdf: Path, st, bib: dict[str, dict]) -> None:
        rel = pdf.relative_to(self.folder)
        if st.st_size > MAX_PDF_BYTES:
            raise ToolError("too_large", f"{rel} is {st.st_size} bytes, over the library's cap of {MAX_PDF_BYTES}",
                            source=self.name)
        pid = "lib:" + slug(str(rel.with_suffix("")))
        doc = fulltext.from_pdf(pdf.read_bytes(), paper_id=pid, max_pages=self.max_pages, what=str(rel))
        entry = bib.get(pdf.stem.lower())
        paper = self._paper(pid, pdf, doc, entry)
        body = "\n".join(s["text"] for s in doc["sections"])
        db.execute("DELETE FROM fts WHERE id=?", (pid,))
        db.execute("INSERT OR REPLACE INTO files(path, id, mtime, size, paper, doc) VALUES (?,?,?,?,?,?)",
                   (str(pdf), pid, st.st_mtime, st.st_size, json.dumps(paper), json.dumps(doc)))
        db.execute("INSERT INTO fts(id, title, authors, abstract, body) VALUES (?,?,?,?,?)",
                   (pid, paper["title"], " ".join(paper["authors"]), paper["abstract"], body))

    @staticmethod
    def _paper(pid: str, pdf: Path | None, doc: dict, entry: dict | None) -> dict:
        fields = entry["fields"] if entry else {}
        sections = {s["name"].lower(): s["text"] for s in doc["sections"]}
        abstract = sections.get("abstract") or sections.get("annotation") or sections.get("front matter", "")
        authors = [_plain(a) for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()]
        year = fields.get("year", "")
        doi = fields.get("doi")
        url = fields.get("url") or (f"https://doi.org/{doi}" if doi else None)
        if url is None and pdf is not None:
            url = pdf.resolve().as_uri()
        return {
            "id": pid, "version": None,
            "title": _plain(fields.get("title", "")) or doc["title"] or (pdf.stem if pdf else pid),
            "authors": authors, "abstract": " ".join(abstract.split())[:2000],
            "published": year[:4] if year[:4].isdigit() else None, "updated": None,
            "categories": [], "primary_category": None, "comment": None,
            "journal_ref": _journal(fields), "doi": doi,
            "url": url, "pdf_url": None, "source": "library",
        }

    def search(self, query: str, *, max_results: int = 5) -> list[dict]:
        if not self._fresh:
            self.refresh()
        q = fts_query(query)
        if not q:
            raise ToolError("bad_input", "the search query has no words", source=self.name)
        with self._lock:
            rows = self._db().execute(
                "SELECT f.paper FROM fts JOIN files f ON f.id = fts.id WHERE fts MATCH ? "
                "ORDER BY bm25(fts, 0, 10.0, 5.0, 3.0, 1.0) LIMIT ?", (q, max(1, int(max_results)))).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _row(self, paper_id: str, column: str) -> dict | None:
        if not self._fresh:
            self.refresh()
        with self._lock:
            row = self._db().execute(f"SELECT {column} FROM files WHERE id=?", (paper_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def metadata(self, paper_id: str) -> dict | None:
        return self._row(paper_id, "paper")

    def full_text(self, paper_id: str) -> dict:
        doc = self._row(paper_id, "doc")
        if doc is None:
            raise ToolError("not_found", f"no paper '{paper_id}' in the library at {self.folder}", source=self.name)
        return doc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
