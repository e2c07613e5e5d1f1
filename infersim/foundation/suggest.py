"""The one "did you mean" of infersim: close spellings of a word among known names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` candidates close to `word` (case-insensitive), best first."""
    cands = list(dict.fromkeys(str(c) for c in candidates))
    low = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(str(word).lower(), list(low), n=n, cutoff=cutoff)
    return [low[h] for h in hits]


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6) -> str:
    """"did you mean 'a' or 'b'?", or "" when nothing is close."""
    hits = suggest(word, candidates, n, cutoff)
    return f"did you mean {' or '.join(repr(h) for h in hits)}?" if hits else ""
