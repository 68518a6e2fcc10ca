"""The fixed text labcoat writes itself (headings, captions, the reviews notice, the run README), per language.

The strings live in `wording/<code>.yaml`, one file per language with the same
keys; the report scaffold, the metrics table, the reviews notice, the
Markdown fallback and the run README all read them from here. A language with
no file gets English and a note saying so (the agents still write in it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import yaml

WORDING = Path(__file__).parent / "wording"
# How people write each language in a config (compared lower-cased, spaces and dashes kept).
ALIASES: dict[str, tuple[str, ...]] = {
    "en": ("english", "en", "en-us", "en-gb", "英语", "英文"),
    "zh": ("中文", "简体中文", "汉语", "普通话", "chinese", "simplified chinese", "chinese (simplified)", "mandarin",
           "zh", "zh-cn", "zh-hans", "zh_cn"),
}
_FIELD = re.compile(r"\(\(\(\s*(\w+)\s*\)\)\)")


def language_code(language: str) -> str | None:
    """The wording file for `language`, or None when labcoat has none."""
    name = " ".join(language.strip().lower().split())
    return next((code for code, names in ALIASES.items() if name in names), None)


@dataclass(frozen=True)
class Wording:
    code: str
    strings: dict[str, Any]
    note: str = ""  # set when the run's language had no wording of its own

    @property
    def name(self) -> str:
        return str(self.strings["name"])

    def text(self, dotted: str, **values: Any) -> str:
        """The string at `dotted` (e.g. "readme.cost_line") with its (((fields))) filled in."""
        found = reduce(lambda node, part: node[part], dotted.split("."), self.strings)
        if not isinstance(found, str):
            raise KeyError(f"{dotted} is a group of strings, not one string")

        def fill(match: re.Match) -> str:
            if match.group(1) not in values:
                raise KeyError(f"wording {self.code}: {dotted} needs a value for '{match.group(1)}'")
            return str(values[match.group(1)])
        return _FIELD.sub(fill, found)

    def group(self, name: str) -> dict[str, str]:
        return dict(self.strings[name])


def load(code: str) -> dict[str, Any]:
    with (WORDING / f"{code}.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def available() -> list[str]:
    return sorted(path.stem for path in WORDING.glob("*.yaml"))


def wording_for(language: str) -> Wording:
    code = language_code(language)
    if code is not None:
        return Wording(code, load(code))
    names = ", ".join(load(c)["name"] for c in available())
    return Wording("en", load("en"), note=(
        f"labcoat's own report text (headings, captions, the reviews notice, the README) is in English: it has "
        f"no wording for '{language}' (it has {names}); the agents still write in {language}"))
