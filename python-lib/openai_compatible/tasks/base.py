"""The contract between a task and the row engine."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

from ..client import Client
from ..columns import OutputColumn
from ..errors import OpenAICompatibleError
from ..reasoning import ReasoningBudgetError
from ..redact import redact_everywhere
from ..results import ChatResult

ERROR_COLUMNS = [
    OutputColumn("error_message", "string", "What failed for this row (empty when the row was answered)"),
    OutputColumn("error_type", "string", "Kind of failure: input, rate_limited, server_error, timeout, "
                                         "context_length, invalid_output, ... (empty when answered)"),
]

USAGE_COLUMNS = [
    OutputColumn("finish_reason", "string", "Why the model stopped: stop, length (output token limit), "
                                            "content_filter, ..."),
    OutputColumn("prompt_tokens", "bigint", "Input tokens, as reported by the provider"),
    OutputColumn("completion_tokens", "bigint", "Output tokens, as reported by the provider"),
    OutputColumn("reasoning_tokens", "bigint", "Output tokens a reasoning model spent thinking (part of "
                                               "completion_tokens; empty when the provider doesn't report them)"),
    OutputColumn("model", "string", "Model that answered, as reported by the provider"),
    OutputColumn("latency_ms", "double", "Time from the first request to the answer, retries included, in "
                                         "milliseconds (0 when the answer came from the cache or a duplicate row)"),
    OutputColumn("cost", "double", "Estimated cost of the request, from the preset's prices per million tokens "
                                   "(empty when the model has no price or the provider reported no token counts)"),
]


def output_cap(configured: Optional[int], default: int) -> Optional[int]:
    """The ``max_tokens`` a task sends: the configured cap, the task's ``default`` when none is set (``None``),
    or no cap at all for 0 (the provider's default, which on self-hosted servers can be the whole context: one
    runaway answer then holds a slot for minutes)."""
    if configured is None:
        return default
    return int(configured) or None


def cut_off_advice(cap: Optional[int]) -> str:
    """What to change when an answer was cut at the output token limit: the parameter's name, as the recipes,
    the generate connector and the notebook's ``apply()`` all call it."""
    return f"raise 'max_output_tokens' (now {cap})" if cap else "set 'max_output_tokens' higher"


def ask(client: Client, messages: Any, model: str, options: Mapping[str, Any]) -> ChatResult:
    """``client.chat`` for a task: an answer whose whole output limit went to reasoning becomes an error that
    names the task's ``max_output_tokens`` and its current value (from ``options["max_tokens"]``)."""
    try:
        return client.chat(messages, model=model, **options)
    except ReasoningBudgetError as exc:
        raise exc.advised(cut_off_advice(options.get("max_tokens"))) from None


class RowInputError(Exception):
    """The row can't be turned into a request (e.g. an empty cell): an error for this row, no request."""

    kind = "input"


class Task:
    """Turns rows into requests and answers into the row's output values.

    ``request(row)`` returns ``(key, payload)``: ``key`` identifies identical requests (for
    de-duplication and the cache) and ``payload`` is what ``call`` sends. ``call`` returns a JSON-able
    answer, stored as is; ``row_values(answer)`` reads the row's output values from it, keyed by the
    names of :meth:`output_columns`, and returns ``(values, error)``, where ``error`` flags an answer
    that doesn't satisfy the task.
    """

    batch_size: int = 1
    model: str = ""

    def check(self, client: Client) -> None:
        """Validates the task against the connection before any row is sent (e.g. an unknown model)."""
        if self.model:
            client.endpoint_for(self.model)

    def output_columns(self) -> list[OutputColumn]:
        """The columns the task adds to each row (their logical names key :meth:`row_values`)."""
        raise NotImplementedError

    def request(self, row: Mapping[str, Any]) -> tuple[str, Any]:
        raise NotImplementedError

    def call(self, client: Client, payload: Any) -> Any:
        raise NotImplementedError

    def call_batch(self, client: Client, payloads: Sequence[Any]) -> list[Union[Any, OpenAICompatibleError]]:
        """Answers several payloads (tasks with ``batch_size > 1``); one answer or error per payload."""
        return [self.call(client, p) for p in payloads]

    def row_values(self, answer: Any) -> tuple[dict, Optional[OpenAICompatibleError]]:
        """``(values, error)``: the output values read from a stored answer, and the error that makes the
        answer unusable for the task (then the row gets it in its error columns), or None."""
        raise NotImplementedError


def chat_answer(result: ChatResult) -> dict:
    """The storable part of a chat result that the usage columns are read from."""
    return {
        "text": result.text,
        "finish_reason": result.finish_reason,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "reasoning_tokens": result.usage.reasoning_tokens,
        "reasoning": result.reasoning,
        "model": result.model,
        "latency_ms": round(result.latency_ms, 1),
        "cost": result.cost,
    }


def usage_values(answer: dict) -> dict:
    """The usage columns' values from a stored chat answer."""
    return {column.name: answer.get(column.name) for column in USAGE_COLUMNS}


def error_values(error: BaseException) -> dict:
    """The error columns for a failed row."""
    kind = getattr(error, "kind", None) or type(error).__name__
    # masked again here: an exception that is not the client's (a library's ValueError quoting a header) may
    # carry a key the client never saw in that form
    return {"error_message": redact_everywhere(error) or kind, "error_type": kind}
