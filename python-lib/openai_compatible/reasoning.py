"""Reasoning models: the model's reasoning split from its answer, in whatever shape the provider sends it.

Providers hand the reasoning ("thinking") of Qwen3, DeepSeek-R1, gpt-oss and hosted reasoning models over in
one of these shapes, in a whole message and in stream deltas alike:

- a field beside ``content``: ``reasoning_content`` (DeepSeek, https://api-docs.deepseek.com/guides/reasoning_model;
  vLLM and SGLang reasoning parsers, https://docs.vllm.ai/en/latest/features/reasoning_outputs.html) or
  ``reasoning`` (OpenRouter, https://openrouter.ai/docs/use-cases/reasoning-tokens; Ollama,
  https://docs.ollama.com/capabilities/thinking);
- content parts of type ``thinking`` (Mistral's reasoning models,
  https://docs.mistral.ai/capabilities/reasoning/);
- inline, as a leading ``<think>...</think>`` block of ``content`` (llama.cpp ``--reasoning-format none``,
  https://github.com/ggml-org/llama.cpp/blob/master/tools/server/README.md; Fireworks,
  https://docs.fireworks.ai/guides/reasoning), one never closed when the output token limit cut the reasoning
  (cubist38/mlx-openai-server#84), or only the closing tag when the chat template opened the block itself
  (DeepSeek-R1 distills on Cloudflare Workers AI, lobehub/lobehub#7450).

The answer never includes the reasoning: JSON, labels and rows are read from what follows it.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from .errors import BadRequestError, OutputValidationError, SettingsError
from .results import ChatResult

REASONING_FIELDS = ("reasoning_content", "reasoning")
OPEN_TAG, CLOSE_TAG = "<think>", "</think>"
# OpenAI's documented values (https://platform.openai.com/docs/api-reference/chat/create, reasoning_effort) that
# the recipes and the Mesh settings offer; Client.chat passes any string through (providers add "xhigh", "max")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")


class ReasoningBudgetError(OutputValidationError):
    """The model spent the whole output token limit on reasoning and gave no answer (``finish_reason`` is
    ``length``): retrying the same request cannot help, a higher output token limit can."""

    kind = "reasoning_budget"

    def __init__(self, message: str, *, reasoning_tokens: Optional[int] = None,
                 result: Optional[ChatResult] = None) -> None:
        super().__init__(message)
        self.reasoning_tokens = reasoning_tokens
        self.result = result  # the answer as it came (no text), for callers that probe with a tiny limit

    def advised(self, advice: str) -> ReasoningBudgetError:
        """The same error, its advice replaced by ``advice`` (e.g. the recipe parameter to raise)."""
        head = self.message.split(": raise", 1)[0]
        return ReasoningBudgetError(f"{head}: {advice}.", reasoning_tokens=self.reasoning_tokens, result=self.result)


# --- whole messages -------------------------------------------------------------------------------------

def field_reasoning(source: Mapping[str, Any]) -> str:
    """The reasoning a message or a delta carries beside its content (``reasoning_content``, else
    ``reasoning``; only strings count: OpenRouter's ``reasoning_details`` objects are left alone)."""
    for name in REASONING_FIELDS:
        value = source.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def thinking_parts(content: Any) -> str:
    """The text of a content list's ``thinking`` parts (Mistral: ``{"type": "thinking", "thinking": [text
    parts]}``, the inner value a string or a list of ``{"type": "text", "text"}``); ``""`` for anything else."""
    if not isinstance(content, list):
        return ""
    out = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != "thinking":
            continue
        inner = part.get("thinking")
        if isinstance(inner, str):
            out.append(inner)
        elif isinstance(inner, list):
            out.extend(p["text"] for p in inner if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return "".join(out)


def split_inline(text: str) -> tuple[str, str]:
    """``(answer, reasoning)`` of a content string that may open with a ``<think>`` block.

    A block never closed (the token limit cut it) is all reasoning; a closing tag with no opening one before
    it (the chat template opened the block) ends the reasoning too. Whitespace around both is dropped; a text
    with no block is the answer as is, and tags later in the answer are left alone.
    """
    stripped = text.lstrip()
    if stripped.startswith(OPEN_TAG):
        inner = stripped[len(OPEN_TAG):]
        thought, closed, rest = inner.partition(CLOSE_TAG)
        return (rest.lstrip() if closed else ""), thought.strip()
    head, closed, rest = text.partition(CLOSE_TAG)
    if closed and OPEN_TAG not in head:
        return rest.lstrip(), head.strip()
    return text, ""


def split_message(message: Mapping[str, Any], text: str) -> tuple[str, Optional[str]]:
    """``(answer, reasoning)`` of a chat completion's ``message`` whose content reads as ``text``: the
    reasoning fields, the ``thinking`` parts and a leading inline block, joined; ``None`` when there is none."""
    answer, inline = split_inline(text)
    found = [t.strip() for t in (field_reasoning(message), thinking_parts(message.get("content")), inline) if t]
    return answer, ("\n\n".join(t for t in found if t) or None)


def answer_text(text: str) -> str:
    """The answer of a text that may still hold its reasoning inline (e.g. an answer stored before it was
    split): what JSON and labels are parsed from."""
    return split_inline(text)[0]


def checked_budget(result: ChatResult, where: str) -> ChatResult:
    """``result`` as is, unless the model reasoned until the output token limit and gave no answer (no text, no
    tool call, ``finish_reason`` ``length``): then raises :class:`ReasoningBudgetError`. ``max_completion_tokens``
    counts reasoning tokens too (https://platform.openai.com/docs/guides/reasoning, "Allocating space for
    reasoning"; DeepSeek: ``max_tokens`` includes the chain of thought)."""
    if result.finish_reason != "length" or result.text.strip() or result.tool_calls:
        return result
    spent = result.usage.reasoning_tokens
    if not result.reasoning and not spent:
        return result
    count = f" ({spent} reasoning tokens)" if spent else ""
    raise ReasoningBudgetError(
        f"{where}: the model spent the whole output token limit on reasoning{count} and gave no answer "
        "(finish_reason=length): raise the output token limit (max_tokens) so that the answer fits after "
        "the reasoning, or lower reasoning_effort.", reasoning_tokens=spent, result=result)


# --- streams --------------------------------------------------------------------------------------------

class ReasoningSplitter:
    """Splits a streamed answer from its reasoning, delta by delta: reasoning fields and ``thinking`` parts go
    to :attr:`text`, and a leading inline ``<think>`` block is held back from the answer even when its tags are
    cut across chunks. Only a few characters at the very start of the answer are ever held (while they could
    still open a block); :meth:`flush` gives them back at the end of the stream.

    A closing tag without an opening one cannot be recognised in a stream without holding the whole answer,
    so it stays in the streamed answer (the non-streamed answer splits it).
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._held = ""
        self._state = "start"  # start -> (thinking -> after ->) answer

    @property
    def text(self) -> Optional[str]:
        """The reasoning received so far, stripped; None when there was none."""
        return "".join(self._parts).strip() or None

    def take(self, delta: Mapping[str, Any], content: str) -> str:
        """Takes one delta whose content reads as ``content``; returns the part of it that is answer."""
        self._parts.append(field_reasoning(delta))
        self._parts.append(thinking_parts(delta.get("content")))
        return self._inline(content) if content else ""

    def flush(self) -> str:
        """The answer text still held when the stream ends (a start that only looked like a ``<think>``)."""
        held, self._held = self._held, ""
        if self._state == "start":
            self._state = "answer"
            return held
        if self._state == "thinking":
            self._parts.append(held)  # a block cut by the token limit: all of it was reasoning
        return ""

    def _inline(self, piece: str) -> str:
        if self._state == "answer":
            return piece
        text = self._held + piece
        self._held = ""
        if self._state == "start":
            stripped = text.lstrip()
            if not stripped or OPEN_TAG.startswith(stripped):
                self._held = text  # could still open a block
                return ""
            if not stripped.startswith(OPEN_TAG):
                self._state = "answer"
                return text
            self._state, text = "thinking", stripped[len(OPEN_TAG):]
        if self._state == "thinking":
            thought, closed, rest = text.partition(CLOSE_TAG)
            if not closed:
                keep = _partial_tag(thought, CLOSE_TAG)
                self._parts.append(thought[:len(thought) - keep])
                self._held = thought[len(thought) - keep:]
                return ""
            self._parts.append(thought)
            self._state, text = "after", rest
        rest = text.lstrip()  # the blank lines between the block and the answer
        if rest:
            self._state = "answer"
        return rest


def _partial_tag(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could begin ``tag`` (to hold until the next chunk)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


# --- reasoning_effort -----------------------------------------------------------------------------------

def checked_effort(value: Any, field: str = "reasoning_effort") -> Optional[str]:
    """A validated ``reasoning_effort`` option: None when empty (then it is not sent), else one of
    :data:`REASONING_EFFORTS`; raises :class:`SettingsError` naming ``field``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    effort = str(value).strip().lower()
    if effort not in REASONING_EFFORTS:
        raise SettingsError(f"Parameter '{field}' is '{value}': use one of {', '.join(REASONING_EFFORTS)}, or leave "
                            "it empty to let the model decide.")
    return effort


def refuses_reasoning_effort(error: BadRequestError, payload: Mapping[str, Any]) -> bool:
    """Whether a 400 refuses the ``reasoning_effort`` that ``payload`` sends, named in the message rather than
    in ``param``: a model that does not think (Ollama: '"<model>" does not support thinking',
    Gitlawb/openclaude#1371, or 'think value "medium" is not supported for this model', ollama/ollama#12561),
    a model without the field (Groq: "reasoning_effort is not supported with this model",
    brendanlong/lion-reader#1325; Bedrock behind a gateway: "reasoning_effort: Extra inputs are not permitted",
    crmne/ruby_llm#851)."""
    if "reasoning_effort" not in payload:
        return False
    text = (error.provider_message or str(error) or "").lower()
    if "supported values" in text or "unsupported value" in text:
        return False  # a value this model refuses ('none', 'minimal'): the user picks another, the field stays
    return (error.param == "reasoning_effort" or "reasoning_effort" in text or "support thinking" in text
            or ("think value" in text and "not supported" in text))
