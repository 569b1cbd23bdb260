"""Generated token ids to text: stop strings, and deltas for streaming that add up to the whole answer.

A streamed answer must equal the non-streamed one, so both are cut by the same `cut_at_stop`,
and `TextStream` only emits text it will not have to take back: it holds back the last
(possibly incomplete) word, a trailing incomplete UTF-8 character, and any tail that could
be the start of a stop string.

    >>> stream = TextStream(lambda ids: " ".join(f"w{i}" for i in ids), stops=("w3",))
    >>> stream.push([1, 2]), stream.push([3]), stream.stopped
    ('w1 ', 'w2 ', True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    positions = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


class TextStream:
    """Accumulates generated ids; `push` returns the text safe to send now, `finish` the rest."""

    def __init__(self, decode: Callable[[list[int]], str], stops: Sequence[str] = ()):
        self._decode = decode
        self._stops = [s for s in stops if s]
        self.ids: list[int] = []
        self.sent = ""
        self.stopped = False

    def push(self, ids: list[int]) -> str:
        if self.stopped:
            return ""
        self.ids.extend(ids)
        full, self.stopped = cut_at_stop(self._decode(self.ids), self._stops)
        if self.stopped:
            return self._advance(full)
        safe = full[: full.rfind(" ") + 1].rstrip("\ufffd")  # the last word (or character) may still change
        return self._advance(safe[: self._stop_may_begin_at(full, len(safe))])

    def finish(self) -> str:
        """Everything not sent yet (call once generation has ended)."""
        if self.stopped:
            return ""
        full, self.stopped = cut_at_stop(self._decode(self.ids), self._stops)
        return self._advance(full, final=True)

    def _stop_may_begin_at(self, full: str, end: int) -> int:
        """The first position before `end` where the text from there on could still grow into a stop string."""
        longest = max((len(stop) for stop in self._stops), default=0)
        for start in range(max(0, end - longest + 1), end):
            if any(stop.startswith(full[start:]) for stop in self._stops):
                return start
        return end

    def _advance(self, text: str, final: bool = False) -> str:
        if not text.startswith(self.sent):
            # decoding a longer prefix changed text already sent (rare: tokenizer clean-up rules);
            # it cannot be taken back, so send only what is new at the end
            delta = text[len(self.sent):] if final else ""
        else:
            delta = text[len(self.sent):]
        self.sent += delta
        return delta
