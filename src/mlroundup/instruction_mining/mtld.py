"""MTLD, the measure of textual lexical diversity (McCarthy & Jarvis 2010), via ``lexicalrichness``.

MTLD walks the words in order, keeping the running type-token ratio (TTR) of the current
segment; each time the TTR falls to the threshold (0.72) a *factor* is complete and the segment
restarts. The words left at the end add the partial factor ``(1 - TTR) / (1 - 0.72)``. MTLD is
the number of words divided by the number of factors, averaged over a forward and a backward pass
(McCarthy & Jarvis 2010, Behavior Research Methods 42(2), Sec. "MTLD"). Cao et al. (arXiv
2307.06290) use it as the lexical-diversity indicator of a response.

``lexicalrichness`` (0.5.1) computes it; words come from its built-in tokenizer (lower case,
digits, dashes and punctuation removed, split on white space), which needs no NLTK or TextBlob
data, so nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

#: McCarthy & Jarvis's default factor threshold.
THRESHOLD = 0.72


def words(text: str) -> list[str]:
    """The words MTLD counts, as ``lexicalrichness``'s built-in tokenizer splits them."""
    from lexicalrichness import tokenize

    return tokenize(text)


def mtld(text: str | Sequence[str], threshold: float = THRESHOLD) -> float:
    """MTLD of a text, or of a list of words.

    Parameters
    ----------
    text : str or sequence of str
        A text (split by :func:`words`) or its words.
    threshold : float
        The factor threshold in (0, 1); McCarthy & Jarvis recommend 0.72.

    Returns
    -------
    float
        Mean words per factor (>= 1 for a text with words); 0.0 for a text without words, where
        MTLD is undefined.

    Raises
    ------
    ValueError
        If ``threshold`` is not in (0, 1).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"invalid threshold={threshold!r}: must be in (0, 1)")
    from lexicalrichness import LexicalRichness

    tokens = words(text) if isinstance(text, str) else [str(w) for w in text]
    if not tokens:
        return 0.0
    lex = LexicalRichness(tokens, preprocessor=None, tokenizer=None)
    return float(lex.mtld(threshold=threshold))
