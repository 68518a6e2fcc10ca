"""The lab's roles. A role is a persona (a template file) plus a model choice.

Which commands a role may issue depends on the phase, so phases pass the
command classes when they ask; the role here only names and describes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    title: str


ROLES: dict[str, Role] = {
    "phd": Role("phd", "PhD student"),
    "postdoc": Role("postdoc", "Postdoc"),
    "ml_engineer": Role("ml_engineer", "ML engineer"),
    "sw_engineer": Role("sw_engineer", "software engineer"),
    "professor": Role("professor", "Professor"),
    "reviewer": Role("reviewer", "reviewer"),
}


def role(name: str) -> Role:
    try:
        return ROLES[name]
    except KeyError:
        raise ValueError(f"unknown role '{name}' (known: {', '.join(ROLES)})") from None
