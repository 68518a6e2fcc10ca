"""arXiv e-print sources (tar.gz, single .gz, plain .tex) flattened to readable text.

Only what an agent needs to read a paper: \\input/\\include resolved, comments
and floats' bodies dropped (captions kept), simple macros expanded, accents
turned into Unicode, sections split on \\section.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import unicodedata
import zlib
from pathlib import PurePosixPath

from labcoat.tools.errors import ToolError

MAX_FILES = 2000
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_INPUT_DEPTH = 20

ACCENTS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303", "=": "\u0304",
           ".": "\u0307", "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "k": "\u0328"}
LETTERS = {"o": "ø", "O": "Ø", "ss": "ß", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "aa": "å",
           "AA": "Å", "l": "ł", "L": "Ł", "i": "ı"}
DROP_ENVS = ("comment", "thebibliography", "tikzpicture", "picture")
FLOAT_ENVS = ("figure", "figure*", "table", "table*", "algorithm", "wrapfigure")
DROP_WITH_ARGS = ("label", "includegraphics", "vspace", "hspace", "bibliographystyle", "bibliography",
                  "usepackage", "setlength", "addtolength", "newpage", "clearpage", "pagebreak",
                  "raisebox", "definecolor", "hypersetup", "graphicspath", "input", "include",
                  "thanks", "footnotetext", "pagestyle", "thispagestyle", "setcounter", "addcontentsline",
                  "renewcommand", "newcommand", "def")


def unpack_eprint(data: bytes) -> dict[str, bytes] | None:
    """The files of an e-print, or None when the e-print is really a PDF.

    arXiv serves a gzipped tar for multi-file sources, a gzipped single .tex
    otherwise, and the PDF itself for PDF-only submissions.
    """
    if data.startswith(b"%PDF"):
        return None
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            raw = _gunzip(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ToolError("malformed", f"e-print is a broken gzip file: {exc}") from None
        if raw.startswith(b"%PDF"):
            return None
    if _looks_like_tar(raw):
        return _untar(raw)
    return {"main.tex": raw}


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
        out = gz.read(MAX_TOTAL_BYTES + 1)
    if len(out) > MAX_TOTAL_BYTES:
        raise ToolError("too_large", f"e-print unpacks to more than {MAX_TOTAL_BYTES} bytes")
    return out


def _looks_like_tar(raw: bytes) -> bool:
    return len(raw) >= 512 and raw[257:262] == b"ustar"


def _untar(raw: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    try:
        # Read members into memory only: nothing is extracted, so hostile
        # paths in the archive cannot write anywhere.
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                if len(files) >= MAX_FILES:
                    break
                total += member.size
                if total > MAX_TOTAL_BYTES:
                    raise ToolError("too_large", f"e-print unpacks to more than {MAX_TOTAL_BYTES} bytes")
                handle = tar.extractfile(member)
                if handle is not None:
                    files[str(PurePosixPath(member.name.lstrip("./")))] = handle.read()
    except tarfile.TarError as exc:
        raise ToolError("malformed", f"e-print is a broken tar archive: {exc}") from None
    return files


def decode_tex(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def main_tex(files: dict[str, bytes]) -> str:
    """The name of the root .tex file (the one with \\documentclass and a document body)."""
    candidates = []
    for name, data in files.items():
        if not name.lower().endswith((".tex", ".ltx")) and name != "main.tex":
            continue
        text = strip_comments(decode_tex(data))
        score = ("\\documentclass" in text) * 2 + ("\\begin{document}" in text) * 2
        if score:
            candidates.append((score, len(data), name))
    if not candidates:
        raise ToolError("malformed", "e-print holds no LaTeX file with \\documentclass "
                                     f"(files: {', '.join(sorted(files)[:10]) or 'none'})")
    return max(candidates)[2]


def strip_comments(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for line in text.split("\n"):
        out.append(re.sub(r"(?<!\\)((?:\\\\)*)%.*$", r"\1", line))
    return "\n".join(out)


def flatten(files: dict[str, bytes], root: str) -> str:
    """The root file with \\input/\\include replaced by their files, comments gone."""
    def resolve(name: str, base: PurePosixPath, depth: int, seen: tuple[str, ...]) -> str:
        text = strip_comments(decode_tex(files[name]))

        def repl(m: re.Match) -> str:
            target = m.group(2).strip()
            found = _find(files, target, base)
            if found is None or found in seen or depth >= MAX_INPUT_DEPTH:
                return ""
            return "\n" + resolve(found, base, depth + 1, (*seen, found)) + "\n"

        return re.sub(r"\\(input|include|subfile)\s*\{([^}]*)\}", repl, text)

    return resolve(root, PurePosixPath(root).parent, 0, (root,))


def _find(files: dict[str, bytes], target: str, base: PurePosixPath) -> str | None:
    for cand in (target, f"{target}.tex"):
        for path in (str(base / cand), cand):
            norm = str(PurePosixPath(path))
            if norm in files:
                return norm
    return None


def to_document(files: dict[str, bytes]) -> dict:
    """{"title", "abstract", "sections": [{"name", "text"}]} from an unpacked e-print."""
    tex = flatten(files, main_tex(files))
    macros = _simple_macros(tex)
    title = _command_arg(tex, "title")
    begin = tex.find("\\begin{document}")
    body = tex[begin + len("\\begin{document}"):] if begin >= 0 else tex
    end = body.find("\\end{document}")
    body = body[:end] if end >= 0 else body
    for env in DROP_ENVS:
        body = re.sub(r"\\begin\{%s\}.*?\\end\{%s\}" % (re.escape(env), re.escape(env)), "", body, flags=re.S)
    body = _floats_to_captions(body)
    sections: list[dict] = []
    abstract = re.search(r"\\begin\{abstract\}(.*?)\\end\{abstract\}", body, flags=re.S)
    if abstract:
        sections.append({"name": "Abstract", "text": clean(abstract.group(1), macros)})
        body = body[:abstract.start()] + body[abstract.end():]
    parts = re.split(r"\\section\*?\s*(?:\[[^\]]*\])?\s*\{", body)
    head = clean(parts[0], macros)
    if head.strip() and not sections:
        sections.append({"name": "Front matter", "text": head})
    for part in parts[1:]:
        name, rest = _balanced(part)
        if re.match(r"\s*\\appendix", rest[-40:] or ""):
            rest = rest.replace("\\appendix", "")
        sections.append({"name": clean(name, macros).strip() or "Untitled", "text": clean(rest, macros)})
    return {"title": " ".join(clean(title, macros).split()) if title else "",
            "abstract": sections[0]["text"] if abstract else "", "sections": sections}


def _balanced(text: str) -> tuple[str, str]:
    """Split `text` after the brace group it starts inside (the opening brace already consumed)."""
    depth = 1
    for i, ch in enumerate(text):
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[:i], text[i + 1:]
    return text, ""


def _command_arg(tex: str, name: str) -> str | None:
    m = re.search(r"\\%s\s*(?:\[[^\]]*\])?\s*\{" % re.escape(name), tex)
    return _balanced(tex[m.end():])[0] if m else None


def _simple_macros(tex: str) -> dict[str, str]:
    """Argument-less \\newcommand/\\def definitions: expanded once while cleaning."""
    out = {}
    for m in re.finditer(r"\\(?:re)?newcommand\*?\s*\{?\\([A-Za-z]+)\}?\s*\{", tex):
        out[m.group(1)] = _balanced(tex[m.end():])[0]
    for m in re.finditer(r"\\def\s*\\([A-Za-z]+)\s*\{", tex):
        out[m.group(1)] = _balanced(tex[m.end():])[0]
    return out


def _floats_to_captions(body: str) -> str:
    def keep_caption(m: re.Match) -> str:
        caps = []
        inner = m.group(0)
        for c in re.finditer(r"\\caption\s*(?:\[[^\]]*\])?\s*\{", inner):
            caps.append("[" + m.group(1).rstrip("*").capitalize() + ": " + _balanced(inner[c.end():])[0] + "]")
        return "\n" + "\n".join(caps) + "\n"

    names = "|".join(re.escape(e) for e in FLOAT_ENVS)
    return re.sub(r"\\begin\{(%s)\}.*?\\end\{\1\}" % names, keep_caption, body, flags=re.S)


def clean(text: str, macros: dict[str, str] | None = None) -> str:
    """LaTeX markup to plain text, lightly: math stays as written."""
    for name, value in (macros or {}).items():
        if "#" not in value and len(value) < 200:
            text = re.sub(r"\\%s(?![A-Za-z])" % re.escape(name), lambda _m, v=value: v, text)
    text = _accents(text)
    text = re.sub(r"\\(?:cite[tp]?|citep|citet|citeauthor|citeyear)\s*(?:\[[^\]]*\])*\s*\{([^}]*)\}",
                  lambda m: "[" + ", ".join(k.strip() for k in m.group(1).split(",")) + "]", text)
    text = re.sub(r"\\(?:eq)?ref\s*\{[^}]*\}", "?", text)
    text = re.sub(r"\\url\s*\{([^}]*)\}", r"\1", text)
    text = re.sub(r"\\(sub)*section\*?\s*\{([^}]*)\}", lambda m: "\n\n" + m.group(2) + "\n", text)
    text = re.sub(r"\\paragraph\*?\s*\{([^}]*)\}", r"\n\n\1. ", text)
    for name in DROP_WITH_ARGS:
        text = re.sub(r"\\%s\*?(?:\s*\[[^\]]*\])*(?:\s*\{[^{}]*\})*" % name, " ", text)
    text = re.sub(r"\\begin\{(?:itemize|enumerate|description)\}|\\end\{(?:itemize|enumerate|description)\}",
                  "\n", text)
    text = re.sub(r"\\item\s*(?:\[([^\]]*)\])?", lambda m: "\n- " + (m.group(1) + " " if m.group(1) else ""), text)
    text = re.sub(r"\\(?:begin|end)\{[^}]*\}", "\n", text)
    text = text.replace("\\\\", "\n").replace("~", " ").replace("``", "\u201c").replace("''", "\u201d")
    text = re.sub(r"\\([%&#_$])", r"\1", text)
    # Formatting commands keep their argument: \emph{x} -> x.
    for _ in range(3):
        text = re.sub(r"\\(?:emph|textbf|textit|texttt|textsc|textrm|underline|mbox|text|bf|it|em|small"
                      r"|footnotesize|centerline)\s*\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\(?:noindent|centering|maketitle|small|footnotesize|large|Large|bf|it|em|medskip"
                  r"|bigskip|smallskip|par|newline|appendix|tableofcontents)(?![A-Za-z])", " ", text)
    text = re.sub(r"\{\\(?:bf|it|em|sc|tt)\s+([^{}]*)\}", r"\1", text)
    text = re.sub(r"(?<![\\A-Za-z@])\{\s*([^{}$\\]*?)\s*\}", r"\1", text)
    text = text.replace("\\ ", " ").replace("\\,", " ")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _accents(text: str) -> str:
    def accent(m: re.Match) -> str:
        mark, letter = m.group(1), m.group(2) or m.group(3)
        letter = {"\\i": "i", "\\j": "j"}.get(letter, letter)
        return unicodedata.normalize("NFC", letter + ACCENTS[mark])

    text = re.sub(r"\{?\\([`'^\"~=.])\s*(?:\{(\\?[A-Za-z])\}|(\\?[A-Za-z]))\}?", accent, text)
    text = re.sub(r"\{?\\([cvuHk])\s*(?:\{(\\?[A-Za-z])\}|\s(\\?[A-Za-z]))\}?", accent, text)
    text = re.sub(r"\{\\(ss|ae|AE|oe|OE|aa|AA|o|O|l|L)\}|\\(ss|ae|AE|oe|OE|aa|AA|o|O|l|L)(?![A-Za-z])",
                  lambda m: LETTERS[m.group(1) or m.group(2)], text)
    return text
