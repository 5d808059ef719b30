"""Where a continuation joins what the caller has: property tests over arbitrary answers,
cut points and chunkings. A join is either exactly right or refused, never a guess."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from failsoft.router.splice import MIN_OVERLAP, Splice, Unverifiable

WORDS = st.sampled_from(
    ["gateway", "stream", "breaks", "after", "its", "first", "token", "and", "then", "the",
     "answer", "is", "finished", "exactly", "never", "spliced", "by", "guesswork", "a",
     "provider", "fails", "over", "quietly", "Retry-After", "429"]
)  # fmt: skip
SEPARATORS = st.sampled_from([" ", " ", " ", ", ", ". ", "\n", "\n\n", "  "])


@st.composite
def answers(draw: st.DrawFn, min_words: int = 8) -> str:
    words = draw(st.lists(WORDS, min_size=min_words, max_size=80))
    out = words[0]
    for word in words[1:]:
        out += draw(SEPARATORS) + word
    return out + draw(st.sampled_from([".", "!", ""]))


def chunked(text: str, sizes: list[int]) -> list[str]:
    """`text` cut into pieces of the given sizes (cycled), as a stream delivers it."""
    pieces, at, i = [], 0, 0
    while at < len(text):
        size = max(1, sizes[i % len(sizes)])
        pieces.append(text[at : at + size])
        at += size
        i += 1
    return pieces


def run(splice: Splice, pieces: list[str]) -> str:
    out = "".join(splice.feed(piece) for piece in pieces)
    return out + splice.end()


def same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


CHUNKS = st.lists(st.integers(1, 12), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(answer=answers(), cut=st.floats(0.05, 0.95), sizes=CHUNKS)
def test_a_restart_is_joined_without_loss_or_repeat(
    answer: str, cut: float, sizes: list[int]
) -> None:
    sent = answer[: max(1, int(len(answer) * cut))]
    assume(sent.strip())
    splice = Splice(sent, "verify")
    try:
        rest = run(splice, chunked(answer, sizes))
    except Unverifiable:
        return  # refusing an ambiguous join (a repetitive answer) is allowed; guessing is not
    assert same(sent + rest, answer)
    assert splice.how in ("restart", "overlap")


@settings(max_examples=300, deadline=None)
@given(answer=answers(min_words=20), cut=st.floats(0.3, 0.95), back=st.integers(MIN_OVERLAP, 200),
       sizes=CHUNKS)  # fmt: skip
def test_an_overlap_is_joined_without_loss_or_repeat(
    answer: str, cut: float, back: int, sizes: list[int]
) -> None:
    end = int(len(answer) * cut)
    sent = answer[:end]
    start = end - back
    assume(start > 0 and len(" ".join(answer[start:end].split())) >= MIN_OVERLAP)
    splice = Splice(sent, "verify")
    try:
        rest = run(splice, chunked(answer[start:], sizes))
    except Unverifiable:
        return
    assert same(sent + rest, answer)


@settings(max_examples=200, deadline=None)
@given(answer=answers(), cut=st.floats(0.05, 0.95), sizes=CHUNKS)
def test_a_prefill_continuation_is_joined_exactly(
    answer: str, cut: float, sizes: list[int]
) -> None:
    sent = answer[: max(1, int(len(answer) * cut))]
    kept = sent.rstrip()
    assume(kept)
    splice = Splice(sent, "prefill", sent[len(kept) :])
    try:
        rest = run(splice, chunked(answer[len(kept) :], sizes))
    except Unverifiable:
        # Allowed only where a restart cannot be told apart: the whole continuation is at
        # least an overlap's length of the answer's own beginning (a repetitive answer).
        begins = " ".join(answer[len(kept) :].split())
        assert len(begins) >= MIN_OVERLAP
        assert " ".join(kept.split()).startswith(begins)
        return
    assert sent + rest == answer


def test_a_short_prefill_continuation_like_the_beginning_is_relayed() -> None:
    """Found by the property test: the last word repeats the first one. Too short to be
    a restart, so it is the continuation it was asked for."""
    answer = "after gateway gateway gateway gateway gateway gateway gateway gateway after"
    kept = answer[: -len(" after")]
    splice = Splice(kept, "prefill")
    assert run(splice, list(" after")) == " after"


@settings(max_examples=200, deadline=None)
@given(answer=answers(), other=answers(), cut=st.floats(0.1, 0.9), sizes=CHUNKS)
def test_anything_else_is_refused(answer: str, other: str, cut: float, sizes: list[int]) -> None:
    sent = answer[: max(1, int(len(answer) * cut))]
    fresh = "Sure! Here is something else: " + other
    splice = Splice(sent, "verify")
    with pytest.raises(Unverifiable):
        run(splice, chunked(fresh, sizes))


def test_a_plain_continuation_without_overlap_is_refused() -> None:
    answer = "The gateway kept answering while the provider failed. Then it recovered."
    sent = answer[:40]
    with pytest.raises(Unverifiable, match="neither restarts nor overlaps"):
        run(Splice(sent, "verify"), [answer[40:]])


def test_the_glued_restart_of_the_issue_is_refused_not_glued() -> None:
    """A target that restarts with a different answer: the old resume glued it on."""
    sent = "failsoft keeps the incident open until the provider says it is still open."
    restart = "A gateway sits between applications and providers and fails over."
    with pytest.raises(Unverifiable):
        run(Splice(sent, "verify"), [restart])


def test_nothing_is_relayed_while_the_join_is_undecided() -> None:
    answer = "one two three four five six seven eight nine ten eleven twelve thirteen"
    sent = answer[:30]
    splice = Splice(sent, "verify")
    assert splice.feed(answer[:20]) == ""  # could still be a restart
    assert not splice.decided
    assert splice.held == 20
    rest = splice.feed(answer[20:])
    assert splice.how == "restart"
    assert sent + rest == answer


def test_an_ambiguous_overlap_is_refused() -> None:
    sent = "la la la la la la la la la la la la la la"
    with pytest.raises(Unverifiable, match="more than one place"):
        run(Splice(sent, "verify"), ["la la la la la la la la la la la la la la la la done"])


def test_an_answer_already_complete_needs_nothing_more() -> None:
    answer = "The answer was complete when the stream broke, just before its end marker."
    assert run(Splice(answer, "verify"), [answer]) == ""
    assert run(Splice(answer, "verify"), [answer[-30:]]) == ""


def test_a_restart_that_stops_short_is_refused() -> None:
    answer = "The answer was long and the restart was shorter than what was already sent."
    with pytest.raises(Unverifiable, match="ended sooner"):
        run(Splice(answer, "verify"), [answer[:30]])


def test_prefill_whitespace_is_not_repeated() -> None:
    sent = "The first paragraph ends here.\n\n"
    splice = Splice(sent, "prefill", "\n\n")
    assert run(splice, ["\n", "\nThe second begins."]) == "The second begins."
    # A model that puts different whitespace back: the caller's whitespace stands.
    splice = Splice("Words and ", "prefill", " ")
    assert run(splice, ["\n\nmore words"]) == "more words"
    # No whitespace stripped: the continuation comes as it is.
    splice = Splice("Words and", "prefill", "")
    assert run(splice, [" more"]) == " more"


@settings(max_examples=200, deadline=None)
@given(answer=answers(min_words=12), cut=st.floats(0.3, 0.95), sizes=CHUNKS)
def test_a_target_that_ignored_the_prefill_and_restarted_is_joined_as_a_restart(
    answer: str, cut: float, sizes: list[int]
) -> None:
    """OpenAI's API takes a final assistant message but starts a fresh turn; a target that
    does so gives the whole answer again, which must not be glued on."""
    sent = answer[: int(len(answer) * cut)]
    kept = sent.rstrip()
    assume(len(" ".join(kept.split())) >= MIN_OVERLAP)
    splice = Splice(sent, "prefill", sent[len(kept) :])
    try:
        rest = run(splice, chunked(answer, sizes))
    except Unverifiable:
        return
    assert same(sent + rest, answer)


def test_a_prefill_restart_that_stops_short_is_refused() -> None:
    answer = "The answer was long, and the restart was shorter than what was already sent."
    splice = Splice(answer, "prefill", "")
    with pytest.raises(Unverifiable, match="ended sooner"):
        run(splice, [answer[:40]])
