"""BibTeX entries from paper metadata, and a small tolerant .bib reader."""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = {"a", "an", "the", "on", "of", "for", "in", "to", "and", "with", "towards", "toward", "via", "from",
             "is", "are", "at", "by", "we", "do", "does"}
SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def surname(author: str) -> str:
    author = author.strip()
    if "," in author:
        return author.split(",", 1)[0].strip()
    parts = author.split()
    return parts[-1] if parts else ""


def cite_key(paper: dict) -> str:
    """firstauthorYEARfirstword: the same paper always gets the same key."""
    authors = paper.get("authors") or []
    name = re.sub(r"[^a-z]", "", _ascii(surname(authors[0])).lower()) if authors else ""
    year = (paper.get("published") or "")[:4]
    year = year if year.isdigit() else ""
    words = [re.sub(r"[^a-z0-9]", "", _ascii(w).lower()) for w in str(paper.get("title") or "").split()]
    word = next((w for w in words if w and w not in STOPWORDS), "")
    key = f"{name or 'anon'}{year}{word}"
    if not (name and year and word):
        # Too little metadata for a readable key: make it unique by the id.
        key += re.sub(r"[^A-Za-z0-9]", "", str(paper.get("id") or ""))
    return key


def escape(value: str) -> str:
    value = " ".join(str(value).split())
    value = "".join(SPECIAL.get(ch, ch) for ch in value)
    # Unbalanced braces would break the whole .bib file: drop them.
    if value.count("{") != value.count("}"):
        value = value.replace("{", "").replace("}", "")
    return value


def public_url(url: object) -> bool:
    """A URL a reader of the paper can follow: http(s) or ftp, never a path on the machine that ran it."""
    return bool(url) and re.match(r"(?i)(https?|ftp)://[^/\s]", str(url)) is not None


def entry(paper: dict, *, key: str | None = None) -> str:
    """One BibTeX entry: @article when a journal is known, else @misc with arXiv eprint fields."""
    base_id = re.sub(r"v\d+$", "", str(paper.get("id") or ""))
    fields: list[tuple[str, str]] = []
    authors = [a for a in (paper.get("authors") or []) if str(a).strip()]
    if authors:
        fields.append(("author", " and ".join(escape(a) for a in authors)))
    fields.append(("title", "{" + escape(paper.get("title") or "Untitled") + "}"))
    year = (paper.get("published") or "")[:4]
    if year.isdigit():
        fields.append(("year", year))
    journal = paper.get("journal_ref")
    if journal:
        fields.append(("journal", escape(journal)))
    if paper.get("source", "arxiv") == "arxiv" and base_id:
        fields += [("eprint", base_id), ("archivePrefix", "arXiv")]
        if paper.get("primary_category"):
            fields.append(("primaryClass", escape(paper["primary_category"])))
    if public_url(paper.get("url")):
        fields.append(("url", str(paper["url"]).replace("%", r"\%")))
    if paper.get("bibtex_note"):
        fields.append(("note", escape(paper["bibtex_note"])))
    if paper.get("doi"):
        # DOIs go to \doi or \url verbatim: drop only what would break the .bib file.
        fields.append(("doi", re.sub(r"[{}\s%]", "", str(paper["doi"]))))
    kind = "article" if journal else "misc"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key or cite_key(paper)},\n{body}\n}}\n"


def parse(text: str) -> list[dict]:
    """Entries of a .bib file as {"type", "key", "fields"}; @comment/@string/@preamble skipped.

    Malformed entries (unbalanced braces, no key) are skipped, not fatal: a
    user's .bib should not stop a library from loading.
    """
    out = []
    pos = 0
    while True:
        m = re.compile(r"@(\w+)\s*([{(])").search(text, pos)
        if not m:
            break
        kind = m.group(1).lower()
        body, end = _group(text, m.end(), ")" if m.group(2) == "(" else "}")
        pos = end
        if body is None or kind in ("comment", "string", "preamble"):
            continue
        key, _, rest = body.partition(",")
        if not key.strip() or re.search(r"[\s=]", key.strip()):
            continue
        out.append({"type": kind, "key": key.strip(), "fields": _fields(rest)})
    return out


def _group(text: str, start: int, close: str) -> tuple[str | None, int]:
    depth = 1
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}" or ch == close:
            depth -= 1
            if depth == 0:
                return text[start:i], i + 1
    return None, len(text)


def _fields(rest: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    pos = 0
    pattern = re.compile(r"\s*([\w:-]+)\s*=\s*")
    while pos < len(rest):
        m = pattern.match(rest, pos)
        if not m:
            break
        name, pos = m.group(1).lower(), m.end()
        value, pos = _value(rest, pos)
        fields[name] = " ".join(value.split())
        comma = rest.find(",", pos)
        if comma < 0:
            break
        pos = comma + 1
    return fields


def _value(rest: str, pos: int) -> tuple[str, int]:
    parts = []
    while pos < len(rest):
        ch = rest[pos]
        if ch == "{":
            inner, pos = _group(rest, pos + 1, "}")
            parts.append(inner or "")
        elif ch == '"':
            end = rest.find('"', pos + 1)
            end = len(rest) if end < 0 else end
            parts.append(rest[pos + 1:end])
            pos = end + 1
        else:
            m = re.compile(r"[^,#\s]+").match(rest, pos)
            if not m:
                break
            parts.append(m.group(0))
            pos = m.end()
        m = re.compile(r"\s*#\s*").match(rest, pos)
        if not m:
            break
        pos = m.end()
    return "".join(parts), pos
