"""Every failure path, run with recognisable secrets: none of them appears in an exception (text, repr, attributes,
traceback), a log record (urllib3 and openai_compatible at DEBUG), the captured output, or a repr."""

import logging
import socket
import threading
import traceback
from urllib.parse import quote, quote_plus

import pytest
from openai_compatible import Client, ConnectionSettings, OpenAICompatibleError
from openai_compatible.retry import RetryPolicy

from tests.servers.fault_server import Fault, oai_error

# recognisable, and with characters that URL encoding changes (the query-parameter scheme puts it in the URL)
SECRET = "sk-SECRET-canary-7f3a9b2c/4d5e+6f70=8192a3b4"
ENDPOINT_SECRET = "sk-SECRET-endpoint-d41d8cd98f00b204e980"
HEADER_SECRET = "gw-SECRET-header-0c4e8a1f93b27d65"
USER_SECRET = "sk-SECRET-peruser-9e107d9d372bb6826bd8"
SECRETS = (SECRET, ENDPOINT_SECRET, HEADER_SECRET, USER_SECRET)
WINDOW = 10  # no fragment this long of a secret may show, so a key cut in two halves is caught too
HI = [{"role": "user", "content": "hello there"}]

SCHEMES = {
    "bearer": {"auth_scheme": "bearer"},
    "api_key_header": {"auth_scheme": "api_key_header"},
    "custom_header": {"auth_scheme": "custom_header", "auth_header_name": "Ocp-Apim-Subscription-Key"},
    "query_param": {"auth_scheme": "query_param", "auth_query_param": "key"},
}


def fragments():
    out = set()
    for secret in SECRETS:
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            out.update(form[i:i + WINDOW] for i in range(len(form) - WINDOW + 1))
    return out


FRAGMENTS = fragments()


def leaks(text):
    return sorted(f for f in FRAGMENTS if f in text)


class Witness:
    """Collects every text a failure produced, and checks that no secret is in any of them."""

    def __init__(self, caplog, capsys):
        self.caplog, self.capsys = caplog, capsys
        self.texts = []
        self.errors = []
        self.settings_only = False

    def error(self, exc):
        self.errors.append(exc)
        self.texts += [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
        self.texts += [str(v) for v in vars(exc).values() if v is not None]
        return exc

    def expect(self, call):
        """Runs call; it must raise an error of the library."""
        try:
            result = call()
        except OpenAICompatibleError as exc:
            return self.error(exc)
        raise AssertionError(f"expected an error, got {result!r}")

    def run(self, call):
        """Runs call, keeping its error if it raises one (some faults only concern some routes)."""
        try:
            return call()
        except OpenAICompatibleError as exc:
            return self.error(exc)

    def object(self, *objects):
        self.texts += [repr(o) for o in objects] + [str(o) for o in objects]

    def check(self):
        out, err = self.capsys.readouterr()
        records = self.caplog.get_records("setup") + self.caplog.get_records("call")
        assert self.settings_only or any(r.name.startswith("urllib3") for r in records), (
            "DEBUG logging of urllib3 was not captured: the test would prove nothing")
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        texts = self.texts + [out, err]
        texts += [formatter.format(r) for r in records] + [r.getMessage() for r in records]
        for text in texts:
            assert not leaks(text), (leaks(text), text[:2000])


@pytest.fixture
def witness(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "openai_compatible", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    w = Witness(caplog, capsys)
    yield w
    w.check()


def make_client(url, scheme="bearer", **changes):
    preset = {"style": "openai", "base_url": url, "models": ["fault-chat", "fault-embed"], "api_key": SECRET,
              "max_retries": 1, "read_timeout_s": 10,
              "extra_headers": [{"from": "X-Gateway-Token", "to": HEADER_SECRET}]}
    preset.update(SCHEMES[scheme])
    preset.update(changes)
    settings = ConnectionSettings.from_preset(preset)
    return Client(settings, retry=RetryPolicy(max_retries=settings.max_retries, initial_delay_s=0.01,
                                              max_delay_s=0.02, max_hint_s=0.05))


# --- every failure path, with every way of sending the key -------------------------------------------------------

FAULTS = ["400", "401", "403", "404", "408", "409", "422", "429", "429-none", "429-frac", "429-date", "429-ms",
          "429-reset", "quota", "500", "502", "503", "504", "500-empty", "500-text", "502-html", "504-html",
          "reset", "malformed", "error-200", "empty-200", "stream-cut", "stream-error", "context-length",
          "content-filter", "developer-role", "unsupported-param", "unsupported-param-vllm",
          "unsupported-param-mistral", "stream-unsupported"]


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("mode", FAULTS)
def test_fault_chat_and_stream(fault_server, witness, scheme, mode):
    fault_server.always(mode)
    client = make_client(fault_server.url, scheme)
    witness.expect(lambda: client.chat(HI, model="fault-chat", max_tokens=5, seed=1))
    witness.expect(lambda: list(client.stream(HI, model="fault-chat", max_tokens=5)))
    witness.run(lambda: client.embed(["a"], model="fault-embed"))
    witness.object(client, client.settings, client.stats, client.limiter, client.compat, *client.compat.learnt)
    assert fault_server.calls >= 3


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_successes_after_retries_and_adaptations(fault_server, witness, scheme):
    fault_server.script("429", "500", "reset", "malformed")
    fault_server.reject_param("seed")
    fault_server.reject_param("max_tokens")
    client = make_client(fault_server.url, scheme, max_retries=5)
    result = client.chat(HI, model="fault-chat", max_tokens=5, seed=1)
    stream = client.stream(HI, model="fault-chat")
    pieces = list(stream)
    vectors = client.embed_result(["a", "b"], model="fault-embed")
    witness.object(result, stream, stream.result, vectors, client, client.settings, client.compat.learnt)
    assert pieces and result.text and result.attempts > 1


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_slow_answer_and_stalled_stream(fault_server, witness, scheme):
    stall = threading.Event()  # answers wait until the client gave up, however slow the machine
    fault_server.always(Fault.slow(120, interval=120, until=stall))
    client = make_client(fault_server.url, scheme, read_timeout_s=0.2, max_retries=0)
    try:
        witness.expect(lambda: client.chat(HI, model="fault-chat"))
        witness.expect(lambda: list(client.stream(HI, model="fault-chat")))
    finally:
        stall.set()


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_connection_refused_on_a_closed_port(witness, scheme):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/v1", scheme)
    witness.expect(lambda: client.chat(HI, model="fault-chat"))
    witness.expect(lambda: list(client.stream(HI, model="fault-chat")))
    witness.expect(lambda: client.embed(["a"], model="fault-embed"))
    assert client.stats.snapshot()["http_calls"] == 6


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_tls_failure(fault_server, witness, scheme):
    client = make_client(fault_server.url.replace("http://", "https://"), scheme, max_retries=0)
    witness.expect(lambda: client.chat(HI, model="fault-chat"))


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_models_discovery_failure(fault_server, witness, scheme):
    fault_server.always("401")
    client = make_client(fault_server.url, scheme, models=[], discover_models=True)
    witness.expect(client.models)
    witness.expect(lambda: client.chat(HI, model="fault-chat"))


# --- a provider or proxy that echoes the key back --------------------------------------------------------------------

def echoes(secret):
    """Answers quoting the key the way providers and proxies do: whole, URL-encoded, and cut by a length limit.
    Each comes with whether the mask must show in the error (it may be cut off when the key sits past a limit)."""
    encoded = quote_plus(secret)
    return [
        (Fault.error(401, oai_error(f"Incorrect API key provided: {secret}.", code="invalid_api_key")), True),
        (Fault.error(400, {"detail": f"Unknown key {encoded}"}), True),
        (Fault.error(404, f"Cannot POST /v1/chat/completions?key={encoded}"), True),
        (Fault.error(502, f"<html><head><title>502</title></head><body><p>upstream said: {secret}</p></body></html>",
                     content_type="text/html"), True),
        # the key straddles every cut the client makes: HTML text (240), snippets (200), kept bodies (2000)
        *[(Fault.error(502, "<p>" + "x" * offset + secret + "</p>", content_type="text/html"), False)
          for offset in (220, 230, 235, 238)],
        *[(Fault.error(status, '{"error": {"message": "' + "y" * offset + secret + '"}}'), True)
          for status in (400, 500) for offset in (1960, 1970, 1980, 1990)],
        *[(Fault.error(200, "z" * offset + secret), False) for offset in (180, 190, 195)],
        *[(Fault.error(200, b"data: " + b"w" * offset + secret.encode() + b"\n\n",
                       content_type="text/event-stream"), False) for offset in (180, 190, 195)],
        (Fault.error(200, b'data: {"error": {"message": "bad key ' + secret.encode() + b'"}}\n\n',
                     content_type="text/event-stream"), True),
        (Fault.error(429, oai_error(f"Rate limited for key {secret}"), headers={"Retry-After": "0"}), True),
    ]


@pytest.mark.parametrize("index", range(len(echoes(SECRET))))
@pytest.mark.parametrize("scheme", ["bearer", "query_param"])
def test_echoed_key_is_masked(fault_server, witness, scheme, index):
    fault, visible = echoes(SECRET)[index]
    fault_server.always(fault)
    client = make_client(fault_server.url, scheme, max_retries=0)
    witness.expect(lambda: client.chat(HI, model="fault-chat"))
    witness.expect(lambda: list(client.stream(HI, model="fault-chat")))
    if visible:  # the key did reach the error, masked
        for error in witness.errors:
            assert "***" in str(error) or "***" in (error.body or "") or "***" in (error.provider_message or "")


def test_echoed_header_secret_is_masked(fault_server, witness):
    fault_server.always(Fault.error(403, oai_error(f"Token {HEADER_SECRET} is not allowed here")))
    client = make_client(fault_server.url)
    witness.expect(lambda: client.chat(HI, model="fault-chat"))


# --- other places a key comes from ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["401", "500", "reset", "stream-cut", "malformed"])
def test_per_user_key(fault_server, witness, mode):
    fault_server.always(mode)
    client = make_client(fault_server.url, "query_param", api_key="", use_per_user_key=True,
                         per_user_key=USER_SECRET)
    witness.expect(lambda: client.chat(HI, model="fault-chat"))
    witness.expect(lambda: list(client.stream(HI, model="fault-chat")))
    witness.object(client, client.settings)


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("mode", ["401", "500", "reset", "stream-error", "502-html"])
def test_azure_endpoint_keys(fault_server, witness, scheme, mode):
    fault_server.always(mode)
    client = make_client(fault_server.url, scheme, style="azure", target_uri=fault_server.target_uri, endpoints=[
        {"name": "dep", "kind": "azure_deployment", "deployment": "dep", "api_key": ENDPOINT_SECRET},
        {"name": "v1", "kind": "openai_v1", "api_key": ENDPOINT_SECRET}])
    for model in ("dep", "v1"):
        witness.expect(lambda model=model: client.chat(HI, model=model))
        witness.expect(lambda model=model: list(client.stream(HI, model=model)))
        witness.run(lambda model=model: client.embed(["a"], model=model))
    witness.object(client, client.settings, *client.settings.endpoints)


def test_settings_errors_with_keys_in_the_preset(witness):
    witness.settings_only = True  # nothing is sent: no urllib3 logs to expect
    bad_presets = [
        {"base_url": "ftp://host/v1", "models": ["m"], "api_key": SECRET},
        {"base_url": "http://host/v1/chat/completions", "models": ["m"], "api_key": SECRET},
        {"style": "azure", "target_uri": "https://h/v1", "api_key": SECRET,
         "endpoints": [{"name": "a", "api_key": ENDPOINT_SECRET}]},
        {"style": "azure", "target_uri": "https://h", "endpoints": [{"name": "", "api_key": ENDPOINT_SECRET}]},
        {"base_url": "http://h/v1", "models": ["m"], "proxy": f"proxy.corp:3128?{SECRET}"},
        {"base_url": "http://h/v1", "models": ["m"], "api_key": SECRET, "max_retries": "many"},
        {"base_url": "http://h/v1", "models": ["m"], "use_per_user_key": True, "per_user_key": ""},
    ]
    for preset in bad_presets:
        witness.expect(lambda preset=preset: Client.from_preset(preset))
    client = Client.from_preset({"base_url": "http://h/v1", "models": ["m"], "api_key": SECRET})
    witness.expect(lambda: client.chat(HI, model="other"))
    logging.getLogger("openai_compatible").debug("a debug line to prove capture works")


# --- a key the HTTP library refuses (pasted with its line break) -------------------------------------------------

# what changes form in a repr, a bytes literal, JSON or a URL: quotes, backslash, non-ASCII, +, /, =, %, line break
PASTED = "sk-SECRET-pasted'\"\\é/+=%-5e2c9d71b0\n"


def with_raw_key(client, key):
    """A client whose settings bypass the reader's normalisation, as code building settings itself could."""
    object.__setattr__(client.settings, "api_key", key)
    client._redact.add(key)
    return client


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_key_with_a_line_break_never_shows_in_errors_or_logs(fault_server, caplog, capsys, scheme):
    caplog.set_level(logging.DEBUG)
    fault_server.always("401")
    client = with_raw_key(make_client(fault_server.url, scheme, max_retries=0), PASTED)
    pieces = {PASTED.strip()[i:i + 8] for i in range(len(PASTED.strip()) - 7)}
    texts = []
    for call in (lambda: client.chat(HI, model="fault-chat"), lambda: list(client.stream(HI, model="fault-chat")),
                 lambda: client.embed(["a"], model="fault-embed")):
        with pytest.raises(OpenAICompatibleError) as info:
            call()
        exc = info.value
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
        texts += [str(v) for v in vars(exc).values() if v is not None]
        if scheme == "query_param":  # URL-encoded, the key is sent: the provider refuses it, naming the scheme
            assert exc.kind == "authentication" and "the 'key' query parameter" in str(exc)
        else:  # http.client refuses the header before sending: a settings error, masked
            assert exc.kind == "settings" and "***" in str(exc) and "api_key" in str(exc)
    out, err = capsys.readouterr()
    texts += [out, err, caplog.text]
    for text in texts:
        assert not [p for p in pieces if p in text], text[:1000]


@pytest.mark.parametrize("scheme", ["bearer", "api_key_header", "custom_header"])
def test_a_control_character_in_an_extra_header_value_never_shows(fault_server, scheme):
    client = make_client(fault_server.url, scheme, max_retries=0)
    bad = "gw-SECRET-line\nbreak-7d41"
    object.__setattr__(client.settings, "extra_headers", (("X-Gateway-Token", bad),))
    client._redact.add(bad)
    with pytest.raises(OpenAICompatibleError) as info:
        client.chat(HI, model="fault-chat")
    assert info.value.kind == "settings"
    assert "SECRET-line" not in str(info.value) and "break-7d41" not in str(info.value)
    assert fault_server.calls == 0


# --- the error of a refused key says how it was sent -----------------------------------------------------------------

@pytest.mark.parametrize(("scheme", "sent_in"), [
    ("bearer", "the 'Authorization: Bearer ...' header"), ("api_key_header", "the 'api-key' header"),
    ("custom_header", "the 'Ocp-Apim-Subscription-Key' header"), ("query_param", "the 'key' query parameter")])
def test_a_key_sent_under_the_wrong_scheme_is_named(fault_server, scheme, sent_in):
    fault_server.require_auth(SECRET, scheme="x-api-key")  # the service wants X-API-Key, which no preset sent
    client = make_client(fault_server.url, scheme, max_retries=0)
    with pytest.raises(OpenAICompatibleError) as info:
        client.chat(HI, model="fault-chat")
    message = str(info.value)
    assert info.value.kind == "authentication"
    assert sent_in in message and f"auth_scheme '{scheme}'" in message
    assert not leaks(message)


# --- the preset's own header and parameter names are used, not the defaults ---------------------------------------

def test_a_custom_header_name_is_the_one_sent(fault_server):
    fault_server.require_auth(SECRET, scheme="header:X-Corp-Gateway-Key")
    client = make_client(fault_server.url, "custom_header", auth_header_name="X-Corp-Gateway-Key")
    assert client.chat(HI, model="fault-chat").text
    assert "".join(client.stream(HI, model="fault-chat"))
    assert client.embed(["a"], model="fault-embed")
    assert len(fault_server.requests) == 3
    for request in fault_server.requests:
        assert request.header("X-Corp-Gateway-Key") == SECRET
        assert request.header("Ocp-Apim-Subscription-Key") is None and request.header("Authorization") is None


def test_a_query_parameter_name_is_the_one_sent(fault_server):
    fault_server.require_auth(SECRET, scheme="query:subscription-code")
    client = make_client(fault_server.url, "query_param", auth_query_param="subscription-code")
    assert client.chat(HI, model="fault-chat").text
    assert "".join(client.stream(HI, model="fault-chat"))
    assert client.embed(["a"], model="fault-embed")
    assert len(fault_server.requests) == 3
    for request in fault_server.requests:
        assert request.query.get("subscription-code") == SECRET
        assert "key" not in request.query and request.header("Authorization") is None


def test_a_dict_preset_without_names_uses_the_descriptor_defaults(fault_server):
    fault_server.require_auth(SECRET, scheme="header:Ocp-Apim-Subscription-Key")
    preset = {"base_url": fault_server.url, "models": ["fault-chat"], "api_key": SECRET, "auth_scheme": "custom_header"}
    assert Client.from_preset(preset).chat(HI, model="fault-chat").text
    fault_server.reset()
    fault_server.require_auth(SECRET, scheme="query:key")
    preset.update(auth_scheme="query_param")
    assert Client.from_preset(preset).chat(HI, model="fault-chat").text
