"""Split a long course text into passages that each fit a model's token limit.

Passages follow paragraph and sentence boundaries and overlap by a sentence or so; a sentence
longer than a passage is cut by tokens. Each passage is a pair of character offsets into the
given text, so that a result can point at the words that support it.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from transformers import PreTrainedTokenizerBase

DEFAULT_OVERLAP_TOKENS = 32  # tokens of the previous passage repeated at the start of the next
# A sentence ends at . ! ? or … (closing quotes and brackets may follow) before white space and
# a character that is not lower case: "z. B. die" stays one sentence, "Ende. Neu" does not.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”“)\]]*\s+")
_PARAGRAPH = re.compile(r"\n\s*")  # a line break (bullet lists) or a blank line
_SHRINK_TRIES = 8  # re-splits with a smaller budget if a passage's own count exceeds the limit
# A fast tokenizer's padding and truncation are shared state: a count without padding in one
# thread would strip the padding of a batch that another thread's call of the same model is
# encoding. Each tokenizer has its own lock, so that two models never wait for each other.
_TOKENIZER_LOCKS: weakref.WeakKeyDictionary[object, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()
# The transformers warning level is process-wide: the first count silences it, the last restores.
_QUIET = {"counting": 0, "verbosity": 0}
_QUIET_GUARD = threading.Lock()


def tokenizer_lock(tokenizer: object) -> threading.RLock:
    """Return the lock of one loaded model's tokenizer: its model calls and counts hold it."""
    with _LOCKS_GUARD:
        lock = _TOKENIZER_LOCKS.get(tokenizer)
        if lock is None:
            lock = _TOKENIZER_LOCKS[tokenizer] = threading.RLock()
        return lock


@dataclass(frozen=True)
class Passage:
    """A span of a text: `text[start:end]`."""

    start: int
    """Offset of the first character."""
    end: int
    """Offset after the last character."""

    def of(self, text: str) -> str:
        """Return this passage's words in `text`."""
        return text[self.start : self.end]


@contextmanager
def counting_tokens(tokenizer: object) -> Iterator[None]:
    """Count tokens without padding or truncation, safely beside model calls in other threads.

    Counting the tokens of a long text is how it gets split; the warning that the model would
    cut it (it will not) only confuses, so it is silenced. A fast tokenizer keeps its padding
    and truncation settings in shared state, so counting holds `tokenizer_lock(tokenizer)`, as
    every call of its model does.
    """
    from transformers.utils import logging as transformers_logging

    with tokenizer_lock(tokenizer):
        with _QUIET_GUARD:
            if _QUIET["counting"] == 0:
                _QUIET["verbosity"] = transformers_logging.get_verbosity()
                transformers_logging.set_verbosity_error()
            _QUIET["counting"] += 1
        try:
            yield
        finally:
            with _QUIET_GUARD:
                _QUIET["counting"] -= 1
                if _QUIET["counting"] == 0:
                    transformers_logging.set_verbosity(_QUIET["verbosity"])


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Return (start, end) of each sentence or line of `text`, without surrounding white space."""
    cuts = {0, len(text)}
    cuts.update(match.end() for match in _PARAGRAPH.finditer(text))
    for match in _SENTENCE_END.finditer(text):
        if match.end() < len(text) and not text[match.end()].islower():
            cuts.add(match.end())
    spans = []
    bounds = sorted(cuts)
    for start, end in zip(bounds, bounds[1:]):
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            left = start + len(piece) - len(piece.lstrip())
            spans.append((left, left + len(stripped)))
    return spans


def _units(
    spans: list[tuple[int, int]],
    offsets: Sequence[tuple[int, int]],
    budget: int,
    overlap: int,
) -> list[tuple[int, int, int]]:
    """Return (start, end, tokens) per sentence; a sentence over `budget` becomes token windows."""
    starts = [start for start, _ in offsets]
    units = []
    token = 0
    for start, end in spans:
        first = token
        while token < len(starts) and starts[token] < end:
            token += 1
        count = token - first
        if count <= budget:
            units.append((start, end, count))
            continue
        window = first
        while True:
            last = min(window + budget, token)
            if last < token:
                last = _word_start(offsets, last, window + 1)
            units.append((offsets[window][0], offsets[last - 1][1], last - window))
            if last == token:
                break
            window = _word_start(offsets, max(window + 1, last - overlap), window + 1)
    return units


def _word_start(offsets: Sequence[tuple[int, int]], token: int, lowest: int) -> int:
    """Move `token` back to the first token of its word, but not below `lowest`."""
    while token > lowest and offsets[token][0] == offsets[token - 1][1]:
        token -= 1
    return token


def _pack(units: list[tuple[int, int, int]], budget: int, overlap: int) -> list[Passage]:
    """Join consecutive units into passages of at most `budget` tokens, overlapping a little."""
    passages = []
    first = 0
    while first < len(units):
        last, tokens = first, 0
        while last < len(units) and (last == first or tokens + units[last][2] <= budget):
            tokens += units[last][2]
            last += 1
        passages.append(Passage(units[first][0], units[last - 1][1]))
        if last == len(units):
            break
        # Start the next passage with the trailing sentences that fit in `overlap` tokens,
        # but always move forward by at least one unit.
        following, repeated = last, 0
        while following - 1 > first and repeated + units[following - 1][2] <= overlap:
            repeated += units[following - 1][2]
            following -= 1
        first = following
    return passages


def split_passages(
    text: str,
    tokenizer: PreTrainedTokenizerBase,
    budget: int,
    *,
    overlap: int = DEFAULT_OVERLAP_TOKENS,
    fits: Callable[[list[str]], list[bool]] | None = None,
) -> list[Passage]:
    """Split `text` into passages of at most `budget` tokens (special tokens not counted).

    Args:
        text: The text to split.
        tokenizer: A fast Hugging Face tokenizer (it must report character offsets).
        budget: Tokens a passage may have, without the model's special tokens and prefix.
        overlap: Tokens (whole sentences) of a passage repeated at the start of the next.
        fits: Checks the passages as the model will see them (for example with the e5
            prefix); any that do not fit are split again with a smaller budget.

    Returns:
        The passages, in text order; one passage spanning the whole text if it fits.

    Raises:
        ValueError: The budget is not positive.
    """
    if budget <= 0:
        msg = f"the passage budget must be a positive number of tokens, got {budget}"
        raise ValueError(msg)
    with counting_tokens(tokenizer):
        encoded = tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
    offsets = [tuple(pair) for pair in encoded["offset_mapping"]]
    spans = _sentence_spans(text)
    for _ in range(_SHRINK_TRIES):
        repeated = min(overlap, budget // 2)  # an overlap never takes over a passage
        passages = _pack(_units(spans, offsets, budget, repeated), budget, repeated)
        if fits is None:
            return passages
        verdicts = fits([passage.of(text) for passage in passages])
        if all(verdicts):
            return passages
        # Tokens counted in context and alone can differ by a few (word pieces at the edges).
        budget = max(1, budget - max(2, budget // 32))
    msg = f"could not split a text of {len(offsets)} tokens into passages that fit the model"
    raise ValueError(msg)
