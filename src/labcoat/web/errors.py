"""Errors a dashboard page answers with: a status, a title, and what to do about it."""

from __future__ import annotations


class PageError(Exception):
    def __init__(self, status: int, title: str, detail: str):
        self.status = status
        self.title = title
        self.detail = detail
        super().__init__(f"{status} {title}: {detail}")
