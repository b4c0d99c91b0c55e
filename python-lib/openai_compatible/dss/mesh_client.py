"""The notebook calls (chat, stream, embed, apply) over the LLM Mesh of a DSS project, for users who may not
read the plugin's presets.

Reading a preset needs DSS admin, plugin development or plugin admin rights (dataikuapi ``dss/plugin.py``,
``DSSPlugin.get_settings`` / ``get_project_settings`` docstrings). Using an LLM of the Mesh only needs the
project's ordinary rights and the connection's "usable by" setting, and DSS itself resolves the preset and the
user's per-user key when it runs the plugin's ``python-llms`` component. So :class:`MeshClient` speaks the
:class:`~openai_compatible.client.Client` interface that the notebook API and the row engine use, and sends
each call through ``project.get_llm(llm_id)`` of the public ``dataikuapi`` package.

LLM ids of a plugin's Custom LLM connection are ``custom:<connection name>:<model id>``, both chosen by the
admin who creates the connection (developer.dataiku.com, "Creating a custom LLM Connection", section "Testing
the connection": "The LLM_ID is built this way: custom:<connection-name>:<model_id>").
"""
from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Sequence

from ..concurrency import ConcurrencyLimiter
from ..errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    OpenAICompatibleError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    SettingsError,
    UnknownModelError,
)
from ..http.streaming import ChatStream, StreamAccumulator
from ..results import ChatResult, EmbeddingResult, Usage
from ..stats import CallStats

# The LLM Mesh purposes dataikuapi's DSSProject.list_llms accepts (dataikuapi dss/project.py ``list_llms``).
PURPOSES = ("GENERIC_COMPLETION", "TEXT_EMBEDDING_EXTRACTION")
DEFAULT_CONCURRENCY = 4

# OpenAI chat option -> LLM Mesh completion setting (dataikuapi dss/llm.py, the settings that
# DSSLLMCompletionQuery.settings carries; the plugin's chat component maps them back in mesh.mesh_options)
_SETTINGS = {"temperature": "temperature", "top_p": "topP", "presence_penalty": "presencePenalty",
             "frequency_penalty": "frequencyPenalty", "logit_bias": "logitBias", "top_logprobs": "topLogProbs",
             "seed": "seed"}

_OTHER_OPTIONS = ("max_tokens", "max_completion_tokens", "stop", "logprobs", "tools", "tool_choice",
                  "response_format")
# The kind of a Mesh error (its errorType: the plugin's exception class name, or DSS's own) -> the library's class
_ERRORS = {cls.__name__: cls for cls in (
    AuthenticationError, PermissionDeniedError, UnknownModelError, BadRequestError, ContextLengthError,
    ContentFilterError, RateLimitError, QuotaExceededError, ServerError, APIConnectionError,
    InvalidResponseError, SettingsError)}
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+);base64,(.*)", re.DOTALL)


@dataclass
class MeshSettings:
    """What the notebook API reads of a connection's settings when it goes through the Mesh."""

    connection: Optional[str]
    project_key: str
    max_concurrency: int = DEFAULT_CONCURRENCY


class _MeshCompat:
    """The Mesh model's own component adapts JSON output to its provider, so the schema is always sent."""

    json_mode = "json_schema"
    streaming = True


class MeshClient:
    """The :class:`~openai_compatible.client.Client` calls, answered by LLMs of a project's LLM Mesh.

    ``project`` is a ``dataikuapi`` ``DSSProject``. ``connection`` is the name of a Custom LLM connection:
    a bare model name ``m`` then means the LLM ``custom:<connection>:m``; a full LLM id (anything with a
    ``:``) is used as is. Errors are the library's exceptions, kind kept from the Mesh's ``errorType``.
    """

    def __init__(self, project: Any, connection: Optional[str] = None, *,
                 max_concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.project = project
        self.settings = MeshSettings(connection, str(getattr(project, "project_key", "")), max(1, max_concurrency))
        self.compat = _MeshCompat()
        self.stats = CallStats()
        self.concurrency = ConcurrencyLimiter(self.settings.max_concurrency)  # fixed: the Mesh has its own limits
        self._llm_ids: Optional[list[str]] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"<MeshClient project={self.settings.project_key!r} "
                f"connection={self.settings.connection!r}>")

    def __enter__(self) -> MeshClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to free: dataikuapi keeps its own session."""

    # --- models -------------------------------------------------------------------------------------

    def llm_ids(self, refresh: bool = False) -> list[str]:
        """Every LLM id of the project's Mesh (completion and embedding purposes), as the user may use them."""
        with self._lock:
            if self._llm_ids is None or refresh:
                ids: list[str] = []
                for purpose in PURPOSES:
                    for item in self.project.list_llms(purpose=purpose):
                        llm_id = item.id if hasattr(item, "id") else item.get("id")
                        if llm_id and llm_id not in ids:
                            ids.append(llm_id)
                self._llm_ids = ids
            return list(self._llm_ids)

    def models(self) -> list[str]:
        """The model ids of the connection (``m`` of ``custom:<connection>:m``), or every LLM id without one."""
        prefix = self._prefix()
        ids = self.llm_ids()
        return [i[len(prefix):] for i in ids if i.startswith(prefix)] if prefix else ids

    def _prefix(self) -> str:
        return f"custom:{self.settings.connection}:" if self.settings.connection else ""

    def llm_id(self, model: str) -> str:
        """The LLM id a model name stands for (see the class docstring)."""
        if not model or not str(model).strip():
            raise SettingsError("The model is empty: give a model of the LLM Mesh connection, or a full LLM id.")
        model = str(model).strip()
        if ":" in model or not self.settings.connection:
            return model
        return self._prefix() + model

    def endpoint_for(self, model: str) -> str:
        """Checks that ``model`` is an LLM of the project's Mesh; returns its LLM id (raises
        :class:`UnknownModelError` listing the ones there are)."""
        llm_id = self.llm_id(model)
        known = self.llm_ids()
        if llm_id not in known:
            raise UnknownModelError(f"No LLM '{llm_id}' in the LLM Mesh of project {self.settings.project_key}. "
                                    f"LLMs you can use: {', '.join(known) or 'none'}.")
        return llm_id

    def discover_models(self, refresh: bool = False) -> list[dict]:
        """The Mesh's LLMs as ``{"id"}`` dicts (the provider's ``GET /models`` is not reachable from here)."""
        return [{"id": i} for i in self.llm_ids(refresh)]

    def check(self, models: Optional[Sequence[str]] = None) -> list:
        raise SettingsError("The connection test needs the preset itself; through the LLM Mesh, ask your DSS "
                            "admin to run the plugin's 'Test connection' macro.")

    def openai(self, model: Optional[str] = None, **kwargs: Any) -> Any:
        raise SettingsError("The OpenAI SDK needs the preset's URL and key, which the LLM Mesh does not share. "
                            "DSS's own OpenAI-compatible endpoint (/public/api/projects/<KEY>/llms/openai/v1/) "
                            "serves the same Mesh LLMs to the SDK.")

    # --- calls --------------------------------------------------------------------------------------

    def chat(self, messages: Sequence[Mapping[str, Any]], model: str, **options: Any) -> ChatResult:
        """One chat completion through the Mesh: OpenAI messages and options in, a :class:`ChatResult` out."""
        llm_id = self.llm_id(model)
        query = self._query(llm_id, messages, options)
        started = time.perf_counter()
        response = self._call(lambda: query.execute(), llm_id)
        raw = response.get_raw() if hasattr(response, "get_raw") else dict(response)
        if not raw.get("ok", getattr(response, "success", True)):
            raise _mesh_error(raw, llm_id)
        result = _chat_result(raw, llm_id)
        result.latency_ms = (time.perf_counter() - started) * 1000.0
        self._count(result.usage)
        return result

    def stream(self, messages: Sequence[Mapping[str, Any]], model: str, **options: Any) -> ChatStream:
        """A streamed chat completion through the Mesh: text pieces, then ``.result``."""
        llm_id = self.llm_id(model)
        query = self._query(llm_id, messages, options)
        return ChatStream(lambda accumulator: self._pieces(query, llm_id, accumulator))

    def _pieces(self, query: Any, llm_id: str, accumulator: StreamAccumulator) -> Iterator[str]:
        started = time.perf_counter()
        texts: list[str] = []
        calls: list = []
        footer: dict = {}
        chunks = self._call(lambda: iter(query.execute_streamed()), llm_id)
        while True:
            item = self._call(lambda: next(chunks, None), llm_id)
            if item is None:
                break
            data = item.data if hasattr(item, "data") else {}
            if getattr(item, "type", None) == "footer":
                footer = dict(data or {})
                continue
            if data.get("toolCalls"):
                calls.extend(data["toolCalls"])
            if data.get("text"):
                texts.append(data["text"])
                yield data["text"]
        result = _chat_result(dict(footer, text="".join(texts), toolCalls=calls or None), llm_id)
        result.latency_ms = (time.perf_counter() - started) * 1000.0
        self._count(result.usage)
        accumulator.whole(result)

    def embed(self, texts: Sequence[str], model: str, **options: Any) -> list[list[float]]:
        """One vector per text, in order, from an embedding LLM of the Mesh."""
        return self.embed_result(texts, model, **options).vectors

    def embed_result(self, texts: Sequence[str], model: str, *, dimensions: Optional[int] = None,
                     text_overflow_mode: str = "FAIL") -> EmbeddingResult:
        """Like :meth:`embed`, with the LLM id and latency (``dimensions`` is not a Mesh setting)."""
        if isinstance(texts, str):
            raise SettingsError("embed() takes a list of texts; wrap a single text in a list.")
        if dimensions:
            raise SettingsError("embed(dimensions=...) is not available through the LLM Mesh: the Mesh model "
                                "answers with its own dimension.")
        texts = list(texts)
        if not texts:
            return EmbeddingResult(vectors=[])
        llm_id = self.llm_id(model)
        query = self.project.get_llm(llm_id).new_embeddings(text_overflow_mode=text_overflow_mode)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise SettingsError(f"embed(): input {index} is {type(text).__name__}, not text.")
            query.add_text(text)
        started = time.perf_counter()
        response = self._call(lambda: query.execute(), llm_id)
        try:
            vectors = response.get_embeddings()  # raises when an item has no embedding, with its errorMessage
        except Exception as exc:
            raise _mesh_error({"errorMessage": str(exc)}, llm_id) from None
        if len(vectors) != len(texts):
            raise InvalidResponseError(f"{llm_id}: {len(vectors)} embeddings for {len(texts)} texts.")
        return EmbeddingResult(vectors=[list(v) for v in vectors], model=llm_id,
                               latency_ms=(time.perf_counter() - started) * 1000.0)

    # --- helpers ------------------------------------------------------------------------------------

    def _query(self, llm_id: str, messages: Sequence[Mapping[str, Any]], options: Mapping[str, Any]) -> Any:
        query = self.project.get_llm(llm_id).new_completion()
        add_messages(query, messages)
        apply_options(query, options)
        return query

    def _call(self, action: Any, llm_id: str) -> Any:
        """Runs one dataikuapi call; a refused or failed API call becomes the library's error."""
        from dataikuapi.dss.llm_utils import LLMException
        from dataikuapi.utils import DataikuException

        self.stats.add(http_calls=1)
        try:
            return action()
        except LLMException as exc:
            raise _mesh_error({"errorMessage": str(exc), "errorType": getattr(exc, "error_type", None)},
                              llm_id) from None
        except DataikuException as exc:
            text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if "Unauthorized" in text or "forbidden" in text.lower():
                raise PermissionDeniedError(f"DSS refused the call to {llm_id}: {text}") from None
            raise BadRequestError(f"DSS refused the call to {llm_id}: {text}") from None
        except OSError as exc:  # requests' connection errors
            raise APIConnectionError(f"Could not reach DSS for {llm_id}: {exc}") from None

    def _count(self, usage: Usage) -> None:
        self.stats.add(prompt_tokens=usage.prompt_tokens or 0, completion_tokens=usage.completion_tokens or 0)


def add_messages(query: Any, messages: Sequence[Mapping[str, Any]]) -> None:
    """Adds OpenAI chat messages to a dataikuapi completion query, with its own builders: text, multipart
    (``text`` and ``image_url`` parts become TEXT, IMAGE_INLINE for ``data:`` URLs, IMAGE_URI otherwise),
    assistant ``tool_calls`` and ``tool`` outputs (dataikuapi dss/llm.py ``with_message``,
    ``new_multipart_message``, ``with_tool_calls``, ``with_tool_output``)."""
    if isinstance(messages, (str, bytes)) or not messages:
        raise SettingsError("chat() takes a non-empty list of messages like {'role': 'user', 'content': '...'}.")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise SettingsError(f"Message {index} is not a dict with 'role' and 'content'.")
        role = str(message.get("role") or "user")
        content = message.get("content")
        if role == "tool":
            query.with_tool_output("" if content is None else str(content), str(message.get("tool_call_id") or ""))
            continue
        if isinstance(content, list):
            _add_parts(query.new_multipart_message(role), content, index).add()
        elif content is not None and content != "" or not message.get("tool_calls"):
            query.with_message("" if content is None else str(content), role=role)
        if message.get("tool_calls"):
            query.with_tool_calls([dict(call) for call in message["tool_calls"]], role=role)


def _add_parts(builder: Any, parts: Sequence[Any], index: int) -> Any:
    for part in parts:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            builder.with_text(str(part.get("text") or ""))
        elif kind == "image_url":
            image = part.get("image_url")
            url = str(image.get("url") if isinstance(image, Mapping) else image or "")
            match = _DATA_URL.fullmatch(url)
            if match:
                try:
                    base64.b64decode(match.group(2), validate=True)
                except (binascii.Error, ValueError):
                    raise SettingsError(f"Message {index}: an image data URL holds invalid base64.") from None
                builder.with_inline_image(match.group(2), mime_type=match.group(1))
            else:
                builder.with_image_url(url)
        else:
            raise SettingsError(f"Message {index}: content part type {kind!r} is not supported through the LLM "
                                "Mesh ('text' and 'image_url' are).")
    return builder


def apply_options(query: Any, options: Mapping[str, Any]) -> None:
    """Sets OpenAI chat options as the Mesh settings of a dataikuapi completion query (raises
    :class:`SettingsError` for an option the Mesh has no setting for)."""
    settings = query.settings
    for key, value in options.items():
        if value is None:
            continue
        if key in _SETTINGS:
            settings[_SETTINGS[key]] = value
        elif key in ("max_tokens", "max_completion_tokens"):
            settings["maxOutputTokens"] = int(value)
        elif key == "stop":
            settings["stopSequences"] = [value] if isinstance(value, str) else list(value)
        elif key == "logprobs":
            settings["logProbs"] = bool(value)
        elif key == "tools":
            settings["tools"] = [dict(t) for t in value]
        elif key == "tool_choice":
            settings["toolChoice"] = _tool_choice(value)
        elif key == "response_format":
            _response_format(query, value)
        else:
            known = sorted(set(_SETTINGS) | set(_OTHER_OPTIONS))
            raise SettingsError(f"Option '{key}' has no LLM Mesh setting; through the Mesh, chat() takes "
                                f"{', '.join(known)}.")


def _tool_choice(value: Any) -> dict:
    # the Mesh's {"type": "auto"|"none"|"required"|"tool_name", "name"} (dataikuapi dss/langchain/llm.py)
    if isinstance(value, str):
        return {"type": value} if value in ("auto", "none", "required") else {"type": "tool_name", "name": value}
    name = (value.get("function") or {}).get("name") if isinstance(value, Mapping) else None
    if not name:
        raise SettingsError("tool_choice must be 'auto', 'none', 'required' or {'type': 'function', "
                            "'function': {'name': ...}}.")
    return {"type": "tool_name", "name": str(name)}


def _response_format(query: Any, value: Any) -> None:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind in (None, "text"):
        return
    if kind == "json_object":
        query.with_json_output()
    elif kind == "json_schema":
        spec = value.get("json_schema") or {}
        query.with_json_output(schema=spec.get("schema"), strict=spec.get("strict"))
    else:
        raise SettingsError(f"response_format type {kind!r} is not one of text, json_object, json_schema.")


def _chat_result(raw: Mapping[str, Any], llm_id: str) -> ChatResult:
    """A :class:`ChatResult` from a Mesh response or stream footer (keys of dataikuapi's
    ``_footer_attributes``: promptTokens, completionTokens, totalTokens, estimatedCost, finishReason)."""
    usage = Usage.from_dict({"prompt_tokens": raw.get("promptTokens"),
                             "completion_tokens": raw.get("completionTokens"),
                             "total_tokens": raw.get("totalTokens")})
    cost = raw.get("estimatedCost")
    return ChatResult(text=str(raw.get("text") or ""), finish_reason=raw.get("finishReason"), usage=usage,
                      model=llm_id, raw=dict(raw), tool_calls=raw.get("toolCalls") or None,
                      logprobs=raw.get("logProbs"),
                      cost=float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None)


def _mesh_error(raw: Mapping[str, Any], llm_id: str) -> OpenAICompatibleError:
    """The library's exception for a failed Mesh answer (``errorMessage``, ``errorType``)."""
    message = str(raw.get("errorMessage") or raw.get("message") or "the LLM Mesh call failed")
    error_type = str(raw.get("errorType") or "")
    cls = _ERRORS.get(error_type.rsplit(".", 1)[-1], OpenAICompatibleError)
    return cls(f"{llm_id}: {message}", error_type=error_type or None, provider_message=message)
