"""``FaultServer``: the server object tests drive (lifecycle, observation, scripting) and the choice of what
each request gets (RPM limit, rules, script, markers, random faults; see the package docstring)."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import random
import re
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, urlsplit

from tests.servers.request_body import read_body

from . import answers
from .faults import DEFAULT_ERRORS, DEFAULT_RANDOM_MODES, Fault, FaultLike, oai_error, resolve
from .handler import Handler, HTTPServer
from .recorded import RecordedRequest, content_text, words
from .rules import Gate, Predicate, Rule, when_numbered, when_param, when_role, when_stream

_MARKER = re.compile(r"FAIL:([A-Za-z0-9_\-]+(?:\.\d+)?)(?:\*(\d+))?")
_AZURE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")


class FaultServer:
    """An OpenAI-compatible HTTP server with scriptable faults (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, prefix: str = "/v1",
                 latency_ms: float = 0, rpm_limit: Optional[float] = None, rpm_retry_after: bool = True,
                 models: Sequence[str] = ("fault-chat", "fault-embed"), record: bool = True,
                 markers: bool = True, verbose: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` (seconds) drives the RPM token bucket: tests pass one they move by hand."""
        self.host = host
        self._clock = clock
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.models = list(models)
        self.record = record
        self.markers = markers
        self.verbose = verbose
        self.rpm_retry_after = rpm_retry_after
        self._defaults = (latency_ms, rpm_limit)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a connection closes
        self._connections: set = set()
        self._stopping = False
        self._killed = False
        self._thread: Optional[threading.Thread] = None
        self._httpd = HTTPServer((host, port), Handler, bind_and_activate=True)
        self._httpd.owner = self
        self.port: int = int(self._httpd.server_address[1])
        self._init_state()

    def _init_state(self) -> None:
        self._calls = 0
        self._requests: List[RecordedRequest] = []
        self._queue: Deque[Fault] = collections.deque()
        self._rules: List[Rule] = []
        self._marker_counts: Dict[Tuple[str, str], int] = {}
        self._fault_rate = 0.0
        self._fault_modes: List[Fault] = []
        self._rng = random.Random(0)
        self._random_routes: Tuple[str, ...] = ("chat", "embeddings")
        self.injected: collections.Counter = collections.Counter()
        self.latency_ms, self.rpm_limit = self._defaults
        self._bucket_rpm: Optional[float] = None
        self._tokens = 0.0
        self._stamp = 0.0
        self._gates: List[Gate] = []

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def target_uri(self) -> str:
        """``http://HOST:PORT`` (no ``/v1``): the Azure-style target URI."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ``http://HOST:PORT/v1``."""
        return self.target_uri + self.prefix

    def start(self) -> FaultServer:
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"fault-server-{self.port}", daemon=True)
            self._thread.start()
        return self

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called: errors of connections it closes are expected."""
        return self._stopping

    def stop(self) -> None:
        """Stop serving, release held requests and close every open connection."""
        self._stopping = True
        self._release_gates()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def kill(self) -> None:
        """Stop as a killed process does: the requests it holds (``hold``) never get an answer (their connections
        are reset), and new connections are refused. ``injected["killed"]`` counts the requests it dropped."""
        self._killed = True  # before stop() releases the held requests, so that none of them is answered
        self.stop()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def track_connection(self, conn: socket.socket, opened: bool) -> None:
        """Called by the handler when a connection opens and closes (``stop()`` closes those still open)."""
        with self._lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Waits until no connection is open (a killed client's connections are closed by its OS, and their
        handlers have finished recording), at most ``timeout`` seconds; returns whether it got there. A test
        that resets the server after killing a client calls it first, so no late request of the dead client
        is recorded as the next run's."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._connections, timeout=timeout)

    # -- observing ------------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Requests received (all routes) since start or ``reset()``."""
        return self._calls

    @property
    def requests(self) -> List[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first (empty when ``record=False``)."""
        with self._lock:
            return list(self._requests)

    def calls_to(self, route: str) -> int:
        """How many recorded requests went to route ("chat", "embeddings", "models")."""
        return sum(1 for req in self.requests if req.route == route)

    def reset(self) -> None:
        """Forget calls, requests and counters, and remove every rule, script and fault rate."""
        self._release_gates()
        with self._lock:
            self._init_state()

    # -- scripting ------------------------------------------------------------------------------
    def script(self, *faults: FaultLike) -> None:
        """Queue one-shot faults: the next calls get them, in order (after rules, before markers)."""
        resolved = [resolve(f) for f in faults]
        with self._lock:
            self._queue.extend(resolved)

    @property
    def pending(self) -> int:
        """One-shot faults not yet used."""
        return len(self._queue)

    def add_rule(self, fault: FaultLike, when: Optional[Predicate] = None,
                 times: Optional[int] = None) -> Rule:
        """Apply fault to every request for which ``when`` is true (all if None), at most ``times``
        times (forever if None). Rules are tried in the order they were added."""
        rule = Rule(resolve(fault), when, times)
        with self._lock:
            self._rules.append(rule)
        return rule

    def always(self, fault: FaultLike) -> Rule:
        """Apply fault to every request, in place of the fault an earlier ``always`` gave (rules are tried in
        order, so a second catch-all added after the first would never apply)."""
        rule = Rule(resolve(fault), always=True)
        with self._lock:
            self._rules = [old for old in self._rules if not old.always] + [rule]
        return rule

    def remove_rule(self, rule: Rule) -> None:
        """Remove a rule added earlier."""
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def serve_tokens(self, *tokens: str) -> str:
        """Plays an OAuth2 token endpoint (answers as RFC 6749, section 5.1): each token is issued once in turn,
        the last one for every later request. Returns the token URL. Rules apply on the API paths only, so the
        endpoint borrows one that no call of the client reaches under ``url`` (``<target_uri>/openai/v1/models``)."""
        path = "/openai/v1/models"
        for index, token in enumerate(tokens):
            self.add_rule(Fault.error(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
                          when=lambda req: req.path == path, times=None if index == len(tokens) - 1 else 1)
        return self.target_uri + path

    def require_auth(self, key: str, scheme: str = "bearer", status: int = 401) -> Rule:
        """Answer ``status`` unless the request carries key. ``scheme``: "bearer"
        (``Authorization: Bearer``), "api-key", "x-api-key", "header:<Name>", "query:<param>",
        or "any" (bearer, api-key or x-api-key)."""
        def accepted(req: RecordedRequest) -> bool:
            bearer = req.header("authorization") == f"Bearer {key}"
            if scheme == "bearer":
                return bearer
            if scheme in ("api-key", "x-api-key"):
                return req.header(scheme) == key
            if scheme.startswith("header:"):
                return req.header(scheme[len("header:"):]) == key
            if scheme.startswith("query:"):
                return req.query.get(scheme[len("query:"):]) == key
            if scheme == "any":
                return bearer or key in (req.header("api-key"), req.header("x-api-key"))
            raise ValueError(f"unknown auth scheme {scheme!r}")

        accepted(RecordedRequest("GET", "/", {}, {}, b"", None))  # validates scheme now
        fault = Fault.error(status, DEFAULT_ERRORS[401] if status == 401 else "default", label="auth")
        return self.add_rule(fault, lambda req: not accepted(req))

    def require_header(self, name: str, value: Optional[str] = None, status: int = 401,
                       message: Optional[str] = None) -> Rule:
        """Answer ``status`` unless header ``name`` is present (and equals ``value`` if given)."""
        text = message or (f"Missing or invalid header '{name}'.")
        fault = Fault.error(status, oai_error(text, "invalid_request_error", code="missing_header"),
                            label=f"header:{name}")

        def missing(req: RecordedRequest) -> bool:
            got = req.header(name)
            return got is None or (value is not None and got != value)

        return self.add_rule(fault, missing)

    def reject_param(self, name: str, style: str = "openai") -> Rule:
        """Reject requests whose body has ``name`` (styles: openai, vllm, mistral)."""
        return self.add_rule(Fault.unsupported_param(name, style), when_param(name))

    def reject_stream(self) -> Rule:
        """400 "stream is not supported" for ``stream: true``."""
        return self.add_rule(Fault.stream_unsupported(), when_stream)

    def reject_role(self, role: str = "developer") -> Rule:
        """Reject messages with this role (DeepSeek's wording for ``developer``)."""
        fault = Fault.developer_role() if role == "developer" else Fault.error(
            400, oai_error(f"Invalid value: '{role}'. Supported values are: 'system', 'user', 'assistant'.",
                           param="messages[0].role", code="invalid_value"), label=f"role:{role}")
        return self.add_rule(fault, when_role(role))

    def reject_unknown_models(self, status: int = 404) -> Rule:
        """Answer ``status`` (model_not_found) when the model is not in ``self.models``."""
        def unknown(req: RecordedRequest) -> bool:
            return req.route in ("chat", "embeddings") and req.model not in self.models

        return self.add_rule(Fault.error(status, label="unknown-model"), unknown)

    def set_context_limit(self, max_words: int) -> Rule:
        """400 ``context_length_exceeded`` when the messages hold more than max_words words."""
        def too_long(req: RecordedRequest) -> bool:
            messages = req.json.get("messages") or []
            return sum(words(content_text(m.get("content"))) for m in messages if isinstance(m, dict)) > max_words

        return self.add_rule(Fault.context_length(max_words), too_long)

    def set_fault_rate(self, rate: float, modes: Sequence[FaultLike] = DEFAULT_RANDOM_MODES,
                       seed: int = 0, routes: Sequence[str] = ("chat", "embeddings")) -> None:
        """Fail a random ``rate`` (0..1) of the requests to ``routes``, each with a mode drawn
        uniformly from ``modes``; seeded, so a sequential run is reproducible. ``rate=0`` turns it off."""
        resolved = [resolve(m) for m in modes]
        with self._lock:
            self._fault_rate = float(rate)
            self._fault_modes = resolved
            self._rng = random.Random(seed)
            self._random_routes = tuple(routes)

    def down(self, first: int, count: int) -> Rule:
        """A provider restarting mid-run: requests numbered ``first`` to ``first + count - 1`` (1 is the first
        request since start or reset) lose their connection with a TCP reset and no answer, as requests in
        flight do when a server goes away. Keyed on request numbers, not on time, so exactly ``count``
        requests fail however fast the client goes (``injected["down"]`` counts them)."""
        if first < 1 or count < 1:
            raise ValueError("first and count must be at least 1")
        fault = dataclasses.replace(Fault.reset(), label="down")
        return self.add_rule(fault, when_numbered(first, first + count - 1), times=count)

    def hold(self, after: int, deadline_s: float = 120.0) -> Gate:
        """Hold every request numbered above ``after`` before answering it, until ``gate.release()`` (or
        ``deadline_s``, or ``stop()``): a run cannot get past that request, so a test can act mid-run
        (``gate.wait()``, then kill it) without racing it."""
        gate = Gate(after, deadline_s)
        with self._lock:
            self._gates.append(gate)
        return gate

    def _release_gates(self) -> None:
        with self._lock:
            gates = list(self._gates)
        for gate in gates:
            gate.release()

    # -- request handling -----------------------------------------------------------------------
    def _route(self, path: str) -> Tuple[Optional[str], Optional[str]]:
        for prefix in {self.prefix, "/openai/v1"}:
            if path.startswith(prefix + "/"):
                rest = path[len(prefix):]
                if rest in ("/chat/completions", "/embeddings", "/models"):
                    return {"/chat/completions": "chat", "/embeddings": "embeddings", "/models": "models"}[rest], None
        match = _AZURE.match(path)
        if match:
            return ("chat" if match.group(2) == "chat/completions" else "embeddings"), match.group(1)
        return None, None

    def _take_rpm_token(self) -> Optional[float]:
        """Token bucket refilled at rpm/60 per second, holding one second's worth. Returns None if
        the request may go on, else the seconds until it could."""
        rpm = self.rpm_limit
        if not rpm:
            return None
        rate = rpm / 60.0
        capacity = max(1.0, rate)
        now = self._clock()
        if self._bucket_rpm != rpm:
            self._bucket_rpm, self._tokens, self._stamp = rpm, capacity, now
        self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate

    def _choose(self, req: RecordedRequest) -> Optional[Fault]:
        """Pick the fault for this request (None: the normal answer). Called with the lock held."""
        if req.route in ("chat", "embeddings"):
            wait = self._take_rpm_token()
            if wait is not None:
                headers: Dict[str, str] = {"x-ratelimit-limit-requests": str(int(self.rpm_limit or 0)),
                                           "x-ratelimit-remaining-requests": "0",
                                           "x-ratelimit-reset-requests": f"{max(1, int(wait * 1000))}ms"}
                if self.rpm_retry_after:
                    headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return Fault.error(429, headers=headers, label="rpm-limit")
        for rule in self._rules:
            if rule.when is None or rule.when(req):
                rule.hits += 1
                if rule.times is not None and rule.hits >= rule.times:
                    self._rules.remove(rule)
                return rule.fault
        if self._queue:
            return self._queue.popleft()
        if self.markers and req.route in ("chat", "embeddings"):
            text = req.text
            if "FAIL:" in text:
                for match in _MARKER.finditer(text):
                    name, limit = match.group(1), match.group(2)
                    if limit is not None:
                        key = (match.group(0), text)
                        seen = self._marker_counts.get(key, 0)
                        if seen >= int(limit):
                            continue
                        self._marker_counts[key] = seen + 1
                    try:
                        return resolve(name)
                    except KeyError as exc:
                        return Fault.error(400, oai_error(f"fault server: {exc.args[0]}"), label="bad-marker")
        if self._fault_rate > 0 and req.route in self._random_routes and self._fault_modes:
            if self._rng.random() < self._fault_rate:
                return self._rng.choice(self._fault_modes)
        return None

    def handle_request(self, h: Handler) -> None:
        """Read, record, choose and answer one request."""
        raw = read_body(h)
        if raw is None:  # the client went away mid-body: no call is counted or recorded
            return
        body: Any = None
        invalid_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                invalid_json = True
        parts = urlsplit(h.path)
        route, deployment = self._route(parts.path)
        req = RecordedRequest(method=h.command, path=parts.path, query=dict(parse_qsl(parts.query)),
                              headers={k.lower(): v for k, v in h.headers.items()}, raw=raw, body=body,
                              route=route, deployment=deployment, client_port=int(h.client_address[1]))
        with self._lock:
            self._calls += 1
            number = req.number = self._calls
            if self.record:
                self._requests.append(req)
            fault = self._choose(req) if route is not None else None
            if fault is not None:
                req.fault = fault.label
                self.injected[fault.label] += 1
            gates = [gate for gate in self._gates if gate.holds(req)]
        for gate in gates:
            gate.hold()
        if self._killed:  # the server died while it held this request: the client sees its connection reset
            with self._lock:
                req.fault = "killed"
                self.injected["killed"] += 1
            h.reset()
            return
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        request_id = ("x-request-id", f"req-fault-{number}")
        if fault is not None and fault.kind in answers.RESPONDERS:
            answers.send_fault(h, fault, [request_id])
            return
        if fault is not None:
            fault.pause(fault.delay)
        problem = answers.validate(h.command, req, route, invalid_json)
        if problem is not None:
            status, error = problem
            req.fault = f"invalid-{status}"
            h.send_bytes(status, answers.dumps(error), headers=[request_id])
            return
        extra = [request_id]
        if self.rpm_limit:
            extra += [("x-ratelimit-limit-requests", str(int(self.rpm_limit))),
                      ("x-ratelimit-remaining-requests", str(int(self._tokens)))]
        if route == "models":
            data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fault-server"}
                    for m in self.models]
            h.send_bytes(200, answers.dumps({"object": "list", "data": data}), headers=extra)
        elif route == "embeddings":
            answers.answer_embeddings(h, req, fault or Fault.ok(), extra)
        else:
            answers.answer_chat(h, req, fault or Fault.ok(), number, extra)
