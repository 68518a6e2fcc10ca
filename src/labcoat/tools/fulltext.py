"""A paper's full text as a document of named sections, from an e-print or a PDF."""

from __future__ import annotations

from labcoat.tools import latexsrc, pdftext
from labcoat.tools.errors import ToolError

DEFAULT_MAX_CHARS = 8000


def from_pdf(data: bytes, *, paper_id: str, max_pages: int = pdftext.MAX_PAGES, what: str | None = None,
             engine: str = "auto") -> dict:
    pages = pdftext.extract_pages(data, max_pages=max_pages, what=what or f"PDF of {paper_id}", engine=engine)
    text = pdftext.normalise("\n".join(pages))
    if len(text) < 50:
        raise ToolError("malformed", f"PDF of {paper_id} has no extractable text (scanned images?)")
    return {"paper_id": paper_id, "format": "pdf", "title": pdftext.guess_title(pages),
            "pages": len(pages), "sections": pdftext.split_sections(text)}


def from_eprint(data: bytes, *, paper_id: str) -> dict | None:
    """The document from an e-print's LaTeX, or None when the e-print is a PDF."""
    files = latexsrc.unpack_eprint(data)
    if files is None:
        return None
    doc = latexsrc.to_document(files)
    if sum(len(s["text"]) for s in doc["sections"]) < 50:
        raise ToolError("malformed", f"e-print of {paper_id} flattens to almost no text")
    return {"paper_id": paper_id, "format": "latex", "title": doc["title"], "pages": None,
            "sections": doc["sections"]}


def find_section(doc: dict, wanted: str) -> dict | None:
    """A section by name, number ("2", "II") or unambiguous prefix/substring, case-insensitive."""
    want = wanted.strip().lower().rstrip(".")
    sections = doc["sections"]
    for match in (
        lambda name: name == want,
        lambda name: name.split(" ", 1)[0].rstrip(".") == want,
        lambda name: name.split(" ", 1)[-1] == want,
        lambda name: name.startswith(want) or name.split(" ", 1)[-1].startswith(want),
        lambda name: want in name,
    ):
        hits = [s for s in sections if match(s["name"].lower())]
        if len(hits) >= 1:
            return hits[0]
    return None


def select(doc: dict, section: str | None = None, *, max_chars: int = DEFAULT_MAX_CHARS, chunk: int = 0) -> dict:
    """The part an agent asked for, cut into chunks of at most `max_chars` characters."""
    names = [s["name"] for s in doc["sections"]]
    if section:
        found = find_section(doc, section)
        if found is None:
            return {"error": f"no section '{section}' in {doc['paper_id']}; its sections are: "
                             f"{', '.join(names) or 'none'}", "kind": "bad_input"}
        text, name = found["text"], found["name"]
    else:
        text = "\n\n".join(f"{s['name']}\n{s['text']}" for s in doc["sections"])
        name = None
    return cut(doc, names, name, text, max_chars=max_chars, chunk=chunk)


def cut(doc: dict, names: list[str], name: str | None, text: str, *, max_chars: int, chunk: int) -> dict:
    """Chunk `chunk` of `text` (one section, or the whole paper when `name` is None)."""
    max_chars = max(200, int(max_chars))
    chunks = max(1, -(-len(text) // max_chars))
    if chunk < 0 or chunk >= chunks:
        return {"error": f"chunk {chunk} out of range: this part has {chunks} chunks of {max_chars} characters",
                "kind": "bad_input"}
    part = text[chunk * max_chars:(chunk + 1) * max_chars]
    return {"paper_id": doc["paper_id"], "title": doc.get("title", ""), "format": doc.get("format"),
            "sections": names, "section": name, "text": part, "chunk": chunk, "chunks": chunks,
            "total_chars": len(text)}
