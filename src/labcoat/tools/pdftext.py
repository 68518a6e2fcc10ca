"""PDF to normalised text (pypdfium2, pypdf as fallback) and a split into sections."""

from __future__ import annotations

import io
import re

from labcoat.tools.errors import ToolError

MAX_PAGES = 300
LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
             "\ufb05": "st", "\ufb06": "st"}
NAMED = ("abstract", "references", "bibliography", "acknowledgments", "acknowledgements",
         "acknowledgment", "acknowledgement", "appendix", "supplementary material")
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV"]


def check_pdf(data: bytes, what: str = "file") -> None:
    """Refuse what is plainly not a whole PDF before a parser sees it."""
    if not data:
        raise ToolError("malformed", f"{what} is empty, not a PDF")
    if b"%PDF-" not in data[:1024]:
        head = data[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise ToolError("malformed", f"{what} is not a PDF (it starts with '{head}')")
    if b"%%EOF" not in data[-4096:]:
        raise ToolError("malformed", f"{what} is a truncated PDF: no end-of-file marker in its last "
                                     f"bytes ({len(data)} bytes received)")


def extract_pages(data: bytes, *, max_pages: int = MAX_PAGES, what: str = "file",
                  engine: str = "auto") -> list[str]:
    """Raw text of each page. Raises ToolError (malformed, encrypted, too_large)."""
    check_pdf(data, what)
    if engine in ("auto", "pdfium"):
        try:
            return _pdfium_pages(data, max_pages, what)
        except ToolError:
            raise
        except Exception as exc:  # noqa: BLE001 - pdfium raises its own error types and OSErrors
            if engine == "pdfium":
                raise ToolError("malformed", f"{what}: PDF could not be read: {exc}") from None
    return _pypdf_pages(data, max_pages, what)


def _pdfium_pages(data: bytes, max_pages: int, what: str) -> list[str]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ToolError("encrypted", f"{what} is an encrypted PDF (needs a password)") from None
        raise
    try:
        n = len(pdf)
        _page_cap(n, max_pages, what)
        pages = []
        for i in range(n):
            page = pdf[i]
            textpage = page.get_textpage()
            pages.append(textpage.get_text_bounded())
            textpage.close()
            page.close()
        return pages
    finally:
        pdf.close()


def _pypdf_pages(data: bytes, max_pages: int, what: str) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ToolError("encrypted", f"{what} is an encrypted PDF (needs a password)")
        _page_cap(len(reader.pages), max_pages, what)
        return [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise ToolError("malformed", f"{what}: PDF could not be read: {exc}") from None


def _page_cap(n: int, max_pages: int, what: str) -> None:
    if n > max_pages:
        raise ToolError("too_large", f"{what} has {n} pages, more than the cap of {max_pages}; "
                                     "it is probably not a paper")
    if n == 0:
        raise ToolError("malformed", f"{what} has no pages")


def normalise(text: str) -> str:
    """Line endings, words hyphenated across lines, ligatures, control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for lig, plain in LIGATURES.items():
        text = text.replace(lig, plain)
    # pdfium marks a hyphen at a line break as \x02 (and drops the break).
    text = re.sub(r"[\x02\xad]\n?", "", text)
    text = re.sub(r"(?<=[a-z])-\n(?=[a-z])", "", text)
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_sections(text: str) -> list[dict]:
    """Top-level sections by their headings ("1 Introduction", "II. METHOD", "References").

    Numbered headings count only in sequence and in one numbering style, so
    reference lists and table rows that start with a number are not mistaken
    for headings.
    """
    lines = text.split("\n")
    heads: list[tuple[int, str]] = []
    expect, style, after_refs = 1, None, False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if len(stripped) > 80 or not stripped:
            continue
        named = stripped.rstrip(":").lower()
        if named in NAMED:
            heads.append((i, stripped.rstrip(":").title()))
            after_refs = after_refs or named in ("references", "bibliography")
            continue
        if after_refs:
            continue
        m = re.match(r"^(\d{1,2})\.?\s+([A-Z][^\n]*)$", stripped)
        m_roman = re.match(r"^([IVX]{1,4})\.\s+([A-Z][^\n]*)$", stripped)
        if m and style in (None, "arabic") and int(m.group(1)) == expect and _title_like(m.group(2)):
            style, expect = "arabic", expect + 1
            heads.append((i, f"{m.group(1)} {m.group(2).strip()}"))
        elif (m_roman and style in (None, "roman") and expect <= len(ROMAN)
              and m_roman.group(1) == ROMAN[expect - 1] and _title_like(m_roman.group(2))):
            style, expect = "roman", expect + 1
            heads.append((i, f"{m_roman.group(1)}. {m_roman.group(2).strip()}"))
    sections = []
    first = heads[0][0] if heads else len(lines)
    front = "\n".join(lines[:first]).strip()
    if front:
        sections.append({"name": "Front matter", "text": front})
    for n, (start, name) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        sections.append({"name": name, "text": "\n".join(lines[start + 1:end]).strip()})
    return sections


def _title_like(rest: str) -> bool:
    rest = rest.strip()
    if len(rest) < 3 or rest[-1] in ",;" or rest.endswith(" and"):
        return False
    words = rest.split()
    # A heading is short; a sentence that happens to start with a number is not.
    return len(words) <= 10 and not re.search(r"\.\s+[A-Z]", rest)


def guess_title(pages: list[str], metadata_title: str | None = None) -> str:
    if metadata_title and len(metadata_title.split()) >= 3 and not metadata_title.lower().endswith((".dvi", ".pdf")):
        return metadata_title.strip()
    first = normalise(pages[0]) if pages else ""
    lines = [ln.strip() for ln in first.split("\n") if ln.strip()]
    title = []
    for line in lines[:3]:
        # Titles stop where the author line starts (commas, digits, affiliations marks).
        if title and (re.search(r"[,\d∗†]", line) or len(line) < 4):
            break
        title.append(line)
        if len(" ".join(title)) > 120:
            break
    return " ".join(title)
