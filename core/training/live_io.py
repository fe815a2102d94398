"""The two channels of a ``python -m core.training.live`` run: its events, one JSON object per
line, and its commands, one word per line on stdin."""

from __future__ import annotations

import json
import queue
import threading
from typing import TextIO


class Events:
    """One JSON object per line, flushed at once."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def emit(self, kind: str, **fields) -> None:
        line = json.dumps({"kind": kind, **fields})
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def read_commands(stream: TextIO, into: queue.Queue, on_stop=None) -> threading.Thread:
    """A daemon thread putting each stdin line (stripped, lower case) into ``into``; "eof" last.
    ``on_stop()`` is called (on that thread) after queueing "stop" or "eof"."""

    def pump() -> None:
        for line in stream:
            word = line.strip().lower()
            if word:
                into.put(word)
            if word == "stop" and on_stop is not None:
                on_stop()
        into.put("eof")
        if on_stop is not None:
            on_stop()

    thread = threading.Thread(target=pump, name="live-commands", daemon=True)
    thread.start()
    return thread
