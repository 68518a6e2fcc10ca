"""Capped capture of a program's output: the head and the tail, a note where it was cut."""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Callable


class CappedStream:
    """Keeps the first and last `cap // 2` bytes of a stream and counts the rest."""

    def __init__(self, cap: int):
        self.half = max(1, cap // 2)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self.tail_len += len(chunk)
        while self.tail and self.tail_len - len(self.tail[0]) >= self.half:
            self.tail_len -= len(self.tail.popleft())

    def text(self) -> str:
        tail = b"".join(self.tail)
        if len(tail) > self.half:
            tail = tail[-self.half:]
        cut = self.total - len(self.head) - len(tail)
        head_s = self.head.decode("utf-8", errors="replace")
        tail_s = tail.decode("utf-8", errors="replace")
        if cut <= 0:
            return head_s + tail_s
        return f"{head_s}\n[... {cut} bytes of output cut (kept the first and last {self.half} bytes) ...]\n{tail_s}"


def pump(fd: int, stream: CappedStream, on_chunk: Callable[[int], None]) -> threading.Thread:
    """Read `fd` to EOF into `stream` on a thread; `on_chunk(n)` sees every chunk's size."""

    def loop() -> None:
        try:
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return
                stream.add(chunk)
                on_chunk(len(chunk))
        finally:
            os.close(fd)

    thread = threading.Thread(target=loop, name=f"capture-{fd}", daemon=True)
    thread.start()
    return thread
