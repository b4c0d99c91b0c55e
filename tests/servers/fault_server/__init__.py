"""The project's fault server: a real HTTP/1.1 server that speaks the OpenAI API and fails on demand.

In tests::

    with FaultServer() as fs:            # listens on 127.0.0.1, a free port
        fs.url                           # "http://127.0.0.1:PORT/v1" (OpenAI style base URL)
        fs.target_uri                    # "http://127.0.0.1:PORT" (Azure style target URI)
        fs.script("429", Fault.error(500), "reset")   # the next three calls fail, in that order
        fs.require_auth("sk-x", scheme="api-key")      # persistent rule
        ...
        fs.calls, fs.requests, fs.injected             # what happened

As a CLI (benchmarks): ``python -m tests.servers.fault_server --port 8100 --latency-ms 200 --rpm-limit 6000``
prints ``READY http://127.0.0.1:8100/v1`` and serves until SIGINT/SIGTERM.

Routes: ``POST {prefix}/chat/completions``, ``POST {prefix}/embeddings``, ``GET {prefix}/models`` (prefix
``/v1`` by default; ``/openai/v1`` is accepted too), and the Azure routes
``POST /openai/deployments/{name}/chat/completions|embeddings?api-version=...``.

Default answers are deterministic: chat content is ``"echo: " + <last user message>`` (a JSON object
under ``response_format``), usage counts whitespace-separated words, embeddings are unit vectors
derived from a hash of each input (dimension 8, or ``dimensions``).

Choosing what a request gets, first match wins:
1. the server-side RPM limit (``rpm_limit``): 429 when exceeded;
2. rules (``add_rule``, ``down`` and the ``require_*``/``reject_*`` helpers), in the order they were added;
3. the one-shot queue (``script``);
4. content markers: ``FAIL:<mode>`` in the last user message (any input for embeddings) applies that
   mode every time; ``FAIL:<mode>*N`` only the first N times that same text is seen;
5. random faults (``set_fault_rate``);
6. the normal answer.
Anywhere a fault is expected, a mode name from ``MODES`` (or ``slow-<seconds>``, ``giant-<MB>``) works too.

Modules: ``faults`` (the ``Fault`` value and ``MODES``), ``recorded`` (the request as seen), ``rules`` (predicates,
rules, gates), ``answers`` (normal answers and fault responders), ``handler`` (HTTP plumbing), ``server``
(``FaultServer``), ``cli``.

Faults that must land mid-run are keyed on request numbers (``down``, ``hold``, ``when_numbered``), never on
time: a test built on them gets the same faults on a loaded machine as on an idle one. A held request
(``hold``) waits before any of the above is sent; ``Fault.slow(..., until=event)`` stalls until the test sets
the event.
"""

from .answers import embedding_vector, schema_example
from .cli import main
from .faults import (
    DEFAULT_ERRORS,
    DEFAULT_RANDOM_MODES,
    HTML,
    JSON,
    MODES,
    SSE,
    TEXT,
    Fault,
    FaultLike,
    oai_error,
    resolve,
)
from .recorded import RecordedRequest, content_text, last_user_text, words
from .rules import (
    Gate,
    Predicate,
    Rule,
    when_numbered,
    when_param,
    when_path,
    when_role,
    when_route,
    when_stream,
    when_text,
)
from .server import FaultServer

__all__ = [
    "DEFAULT_ERRORS", "DEFAULT_RANDOM_MODES", "HTML", "JSON", "MODES", "SSE", "TEXT", "Fault", "FaultLike",
    "FaultServer", "Gate", "Predicate", "RecordedRequest", "Rule", "content_text", "embedding_vector",
    "last_user_text", "main", "oai_error", "resolve", "schema_example", "when_numbered", "when_param", "when_path",
    "when_role", "when_route", "when_stream", "when_text", "words",
]
