"""One module per provider; each holds ``CASES``, a list of :class:`tests.providers.case.Case`."""
from __future__ import annotations

import importlib
from typing import List

from tests.providers.case import Case

PROVIDERS = (
    "ollama", "vllm", "llamacpp", "lmstudio", "localai", "tgi", "sglang", "litellm", "openrouter", "azure_openai",
    "azure_foundry", "gemini", "anthropic", "mistral", "groq", "deepseek", "together", "fireworks", "perplexity",
    "ovhcloud", "cloudflare",
)


def all_cases() -> List[Case]:
    """Every case of every provider profile, in profile order; names are unique."""
    cases: List[Case] = []
    for name in PROVIDERS:
        cases.extend(importlib.import_module(f"{__name__}.{name}").CASES)
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"corpus case names must be unique: {duplicates}")
    return cases
