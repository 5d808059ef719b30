"""Where a continuation joins the text a caller already has, verified or not at all. Pure.

A stream that broke after it started is finished by asking a target for the rest. What
comes back is relayed into the caller's stream only where the join can be shown right:

* **prefill**: the target continued the text itself (it was sent as a final assistant
  message, right-stripped, as Anthropic requires). Relayed as it comes; the whitespace the
  caller already has is not repeated. One check even here: a target that ignored the
  prefill and began the answer again (as OpenAI's API does) is caught by its beginning,
  held back like any restart, and joined as one.
* **restart**: asked to continue in a user turn, the target answered from the beginning.
  Once its answer covers everything already sent (compared with whitespace runs
  collapsed), the rest is relayed.
* **overlap**: the target repeated the end of what was sent (the continue prompt asks it
  to repeat the last sentence) by at least `min_overlap` characters, then went on; what
  follows the overlap is relayed.

Anything else is not a continuation anyone can check, and the caller's stream ends with
the in-band error instead (`Unverifiable`): an answer glued from two different answers is
silent corruption, worse than an error. So is an ambiguous join: when text repeats itself
so that two different overlaps fit, neither is chosen.
"""

from __future__ import annotations

from typing import Literal

MIN_OVERLAP = 20
"""Characters (whitespace collapsed) a repeated tail must have to count as an overlap."""
OVERLAP_WINDOW = 4000
"""How far back from the end of what was sent an overlap may begin."""

Mode = Literal["prefill", "verify"]


class Unverifiable(Exception):
    """The continuation neither continues, restarts nor overlaps what was sent."""


def _collapse(text: str) -> tuple[str, list[int]]:
    """`text` with leading whitespace dropped and every whitespace run made one space, and
    for each character of the result the index in `text` where it came from."""
    out: list[str] = []
    where: list[int] = []
    space = False
    for index, char in enumerate(text):
        if char.isspace():
            space = bool(out)
            continue
        if space:
            out.append(" ")
            where.append(index - 1)
            space = False
        out.append(char)
        where.append(index)
    return "".join(out), where


class Splice:
    """Feed the continuation's text as it arrives; relay what `feed` returns."""

    __slots__ = (
        "_lead",
        "_pending",
        "_restarting",
        "_sent",
        "_sent_ws",
        "how",
        "min_overlap",
        "mode",
    )

    def __init__(
        self, sent: str, mode: Mode, stripped: str = "", min_overlap: int = MIN_OVERLAP
    ) -> None:
        self.mode = mode
        self.min_overlap = min_overlap
        self._sent, _ = _collapse(sent)
        self._sent_ws = sent[-1:].isspace()
        """The caller's text ends in whitespace: a join must not add more."""
        self._lead: str | None = stripped if mode == "prefill" and self._sent_ws else None
        """Prefill: the whitespace right-stripped from the prefill, which the caller has
        already and the continuation may begin with (None once past it)."""
        self._pending = ""
        self._restarting: bool | None = None
        """Prefill: whether the continuation so far begins as the whole answer began
        (None: nothing seen yet)."""
        self.how: str | None = "prefill" if mode == "prefill" else None
        """How the join was made (`prefill`, `restart`, `overlap`), once decided."""

    @property
    def decided(self) -> bool:
        return self.how is not None

    @property
    def held(self) -> int:
        """Characters received but not relayed yet (while undecided)."""
        return len(self._pending)

    def feed(self, text: str) -> str:
        """The part of `text` to relay now ("" while the join is still undecided); raises
        `Unverifiable` as soon as no join can fit any more."""
        if self.mode == "prefill" and self.how == "prefill":
            return self._prefill(text)
        if self.how is not None:
            return text
        self._pending += text
        joined = self._decide(final=False)
        return "" if joined is None else joined

    def end(self) -> str:
        """The continuation ended: what is left to relay, or `Unverifiable`."""
        if self.mode == "prefill" and self.how == "prefill":
            rest, self._pending = self._pending, ""
            if self._restarting and len(_collapse(rest)[0]) >= self.min_overlap:
                raise Unverifiable("the continuation restarted the answer but ended sooner")
            # Shorter than an overlap must be, its likeness to the answer's beginning is
            # no evidence of a restart ("after" continuing "... after gateway"): it was
            # asked to continue, and did.
            return rest if self._lead is None else rest.lstrip()
        if self.how is not None:
            return ""
        joined = self._decide(final=True)
        return joined or ""

    # ------------------------------------------------------------------ internals

    def _prefill(self, text: str) -> str:
        pending = self._pending + text
        if self._restarting is not False:
            cont, _ = _collapse(pending)
            if cont and self._sent.startswith(cont) and len(cont) < len(self._sent):
                self._pending = pending
                self._restarting = True
                return ""  # begins as the answer began: perhaps the prefill was ignored
            if cont and cont.startswith(self._sent) and len(self._sent) >= self.min_overlap:
                self.how = None  # it was: join it as a restart
                self._pending = ""
                self._restarting = False
                return self.feed(pending)
            if cont:
                self._restarting = False
        lead = self._lead
        if lead is None:
            self._pending = ""
            return pending
        # Drop the whitespace the caller has already: exactly that, when it comes back as
        # it was, else whatever whitespace leads the continuation.
        if lead.startswith(pending):
            self._pending = pending
            return ""
        self._pending = ""
        self._lead = None
        if pending.startswith(lead):
            return pending[len(lead) :]
        return pending.lstrip()

    def _decide(self, final: bool) -> str | None:
        sent = self._sent
        cont, where = _collapse(self._pending)
        tail = sent[-OVERLAP_WINDOW:]
        if not final and (not cont or sent.startswith(cont) or cont in tail):
            return None  # still inside what was sent: a restart or an overlap may follow
        if not cont:
            raise Unverifiable("the continuation is empty")
        fits = self._fits(sent, tail, cont)
        if not fits:
            if sent.startswith(cont):
                raise Unverifiable("the continuation restarted the answer but ended sooner")
            raise Unverifiable("the continuation neither restarts nor overlaps the answer")
        if len(fits) > 1:
            raise Unverifiable("the continuation fits the answer in more than one place")
        size = fits[0]
        self.how = "restart" if size == len(sent) and cont.startswith(sent) else "overlap"
        cut = where[size - 1] + 1
        rest = self._pending[cut:]
        self._pending = ""
        return rest.lstrip() if self._sent_ws else rest

    def _fits(self, sent: str, tail: str, cont: str) -> list[int]:
        """Every length of `cont`'s beginning that matches the end of `sent`: the whole of
        `sent` (a restart), or at least `min_overlap` characters of its tail."""
        fits = [len(sent)] if cont.startswith(sent) else []
        probe = cont[: self.min_overlap]
        if len(probe) < self.min_overlap:
            return fits
        at = tail.find(probe)
        while at >= 0:
            size = len(tail) - at
            if size not in fits and cont.startswith(tail[at:]):
                fits.append(size)
            at = tail.find(probe, at + 1)
        return fits
