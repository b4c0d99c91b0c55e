"""How sure the model was of the label it wrote: a probability from the answer's token log-probabilities."""
from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable, Mapping, Optional, Sequence


def label_confidence(logprobs: Any, labels: Sequence[str], answers: Sequence[str]) -> Optional[float]:
    """The probability the model gave the labels it wrote, from the answer's token log-probabilities.

    ``logprobs`` is the choice's ``logprobs`` object (``{"content": [{"token", "logprob",
    "top_logprobs"}]}``); ``labels`` are the labels as written in the answer; ``answers`` every label
    the model could write. Each label's probability is the product, over the tokens that spell it, of
    the token's probability among the returned alternatives that could still spell an allowed label
    (so that servers reporting the distribution before constrained decoding still give a meaningful
    number; without alternatives, the raw token probability). With several labels, the lowest one.
    None when the provider returned no log-probabilities or the labels can't be found in the tokens.
    """
    tokens = _tokens(logprobs)
    if not tokens or not labels:
        return None
    joined = "".join(token for token, _, _ in tokens)
    starts = []
    position = 0
    for token, _, _ in tokens:
        starts.append(position)
        position += len(token)
    inner = {answer: json.dumps(answer, ensure_ascii=False)[1:-1] for answer in answers}
    key = re.search(r'"(labels?|class)"\s*:\s*\[?\s*', joined)
    cursor = key.end() if key else 0
    probabilities = []
    for label in labels:
        quoted = json.dumps(label, ensure_ascii=False)
        found = joined.find(quoted, cursor)
        if found >= 0:
            begin, end = found + 1, found + len(quoted) - 1
        else:  # a bare label (no JSON), as written
            found = joined.find(label, cursor)
            if found < 0:
                return None
            begin, end = found, found + len(label)
        cursor = end
        total = 0.0
        for start, (token, logprob, alternatives) in zip(starts, tokens):
            stop = start + len(token)
            if stop <= begin or start >= end:
                continue
            total += _share(joined, start, begin, token, logprob, alternatives, inner.values())
        probabilities.append(math.exp(total))
    return round(min(probabilities), 6)


def _share(joined: str, start: int, begin: int, token: str, logprob: float,
           alternatives: Sequence[tuple[str, float]], spellings: Iterable[str]) -> float:
    """Log-probability of ``token`` among the alternatives that could still spell an allowed label."""
    if not alternatives:
        return logprob
    before = joined[start:begin] if start < begin else ""  # e.g. the opening quote, in the same token
    written = joined[begin:start] if start > begin else ""  # label characters already written
    targets = [before + spelling[len(written):] + '"' for spelling in spellings if spelling.startswith(written)]

    def possible(candidate: str) -> bool:
        return any(target.startswith(candidate) or candidate.startswith(target) for target in targets)

    mass = math.exp(logprob)
    for candidate, candidate_logprob in alternatives:
        if candidate and candidate != token and possible(candidate):
            mass += math.exp(candidate_logprob)
    return logprob - math.log(mass) if mass > 0 else logprob


def _tokens(logprobs: Any) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """``[(token, logprob, [(alternative, logprob)])]`` from a choice's ``logprobs``, tolerating odd shapes."""
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else logprobs
    if not isinstance(content, list):
        return []
    out = []
    for item in content:
        if not isinstance(item, Mapping):
            return []
        token, logprob = item.get("token"), item.get("logprob")
        if not isinstance(token, str) or not isinstance(logprob, (int, float)) or isinstance(logprob, bool):
            return []
        alternatives = []
        for alt in item.get("top_logprobs") or []:
            if isinstance(alt, Mapping) and isinstance(alt.get("token"), str) and isinstance(
                    alt.get("logprob"), (int, float)) and math.isfinite(alt["logprob"]):
                alternatives.append((alt["token"], min(float(alt["logprob"]), 0.0)))
        # a log-probability that is not a number (a server's -inf or NaN) is a probability of zero: the label's
        # confidence is then 0, whatever the other tokens say; one above 0 (a probability above 1, from rounding
        # or a broken server) counts as 0, a certainty, and can't overflow the product
        out.append((token, min(float(logprob), 0.0) if math.isfinite(logprob) else -math.inf, alternatives))
    return out
