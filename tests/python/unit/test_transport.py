"""One TLS, CA bundle and proxy rule for every HTTP stack: the client's session, the connection checks and
the official SDK handoff (``client.openai()``)."""
import shutil
import ssl
import subprocess

import pytest
import requests
from openai_compatible import Client, ConnectionSettings
from openai_compatible.http.failures import transport_reason
from openai_compatible.http.transport import transport_options

from tests.servers.fault_server import FaultServer

BASE = {"style": "openai", "models": ["fault-chat"], "api_key": "sk-unit-transport-0001"}


def settings(**changes):
    return ConnectionSettings.from_preset(dict(BASE, base_url="https://api.example.com/v1", **changes))


def test_the_preset_bundle_wins_then_the_environment_then_the_default():
    env = {"REQUESTS_CA_BUNDLE": "/etc/env-ca.pem", "CURL_CA_BUNDLE": "/etc/curl-ca.pem"}
    assert transport_options(settings(ca_bundle="/etc/corp-ca.pem"), env).verify == "/etc/corp-ca.pem"
    assert transport_options(settings(), env).verify == "/etc/env-ca.pem"
    assert transport_options(settings(), {"CURL_CA_BUNDLE": "/etc/curl-ca.pem"}).verify == "/etc/curl-ca.pem"
    assert transport_options(settings(), {}).verify is True
    assert transport_options(settings(verify_tls=False), env).verify is False


def test_certificate_and_proxy_come_from_the_preset():
    options = transport_options(settings(client_cert="/c.pem", client_key="/k.pem", proxy="http://proxy:3128"), {})
    assert options.cert == ("/c.pem", "/k.pem") and options.proxy == "http://proxy:3128"
    assert transport_options(settings(client_cert="/both.pem"), {}).cert == "/both.pem"
    assert transport_options(settings(), {}).proxy is None


@pytest.mark.parametrize(("text", "reason"), [
    ("HTTPConnectionPool: Max retries exceeded ([Errno 111] Connection refused)", "connection refused"),
    ("[Errno -2] Name or service not known", "unknown host"),
    ("[Errno 113] No route to host", "no route to host"),
    ("('Connection aborted.', RemoteDisconnected('Remote end closed connection'))",
     "the server closed the connection"),
    ("IncompleteRead(10 bytes read, 5 more expected)", "the answer was cut short"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "certificate verification failed"),
])
def test_transport_reasons(text, reason):
    assert transport_reason(requests.exceptions.ConnectionError(text)) == reason


def test_an_unknown_failure_is_named_by_its_class_not_its_text():
    """The text may hold a URL with a key in its query string: it is never repeated."""
    assert transport_reason(requests.exceptions.ConnectionError("https://h/v1?key=sk-x failed")) == "ConnectionError"


@pytest.fixture
def tls_server(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate", pytrace=False)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = FaultServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield f"https://127.0.0.1:{server.port}/v1", str(cert)


def test_a_ca_from_requests_ca_bundle_works_for_the_client_and_the_sdk(tls_server, monkeypatch):
    pytest.importorskip("openai")
    url, cert = tls_server
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    client = Client.from_preset(dict(BASE, base_url=url, max_retries=0))
    assert client.chat([{"role": "user", "content": "hi"}], model="fault-chat").text == "echo: hi"
    sdk = client.openai(max_retries=0)
    answer = sdk.chat.completions.create(model="fault-chat", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi"


def test_without_the_ca_the_sdk_refuses_the_certificate(tls_server, monkeypatch):
    openai = pytest.importorskip("openai")
    url, _ = tls_server
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    sdk = Client.from_preset(dict(BASE, base_url=url, max_retries=0)).openai(max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        sdk.chat.completions.create(model="fault-chat", messages=[{"role": "user", "content": "hi"}])


def test_never_connected_tells_a_refused_connection_from_a_reset_one():
    import socket

    import requests
    from openai_compatible.http.failures import never_connected

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
    except requests.exceptions.ConnectionError as exc:
        assert never_connected(exc)
    else:
        raise AssertionError("a closed port answered")
    reset = requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
    assert not never_connected(reset)


def test_never_connected_reads_a_chain_of_causes_that_loops_back_once_around():
    # a library may wrap an error in one that it then names as the first one's cause: the walk must end
    import requests
    from openai_compatible.http.failures import never_connected

    class Wrapping(requests.exceptions.ConnectionError):
        reads = 0

        @property
        def reason(self):
            type(self).reads += 1
            return inner if type(self).reads <= 3 else None  # a walk that goes round again stops all the same

    outer = Wrapping("connection aborted")
    inner = requests.exceptions.ConnectionError(outer)  # its cause: back to the first
    assert not never_connected(outer)
    assert Wrapping.reads == 1


@pytest.mark.parametrize(("old", "new", "leaves"), [
    ("http://h/v1", "https://h/v1", False),  # the upgrade to HTTPS on the default ports stays
    ("http://h:80/v1", "https://h:443/v1", False),
    ("http://h:8000/v1", "http://h:9000/v1", True),  # another port is another origin
    ("http://h:8000/v1", "https://h:8000/v1", True),
    ("https://h/v1", "http://h/v1", True),  # a downgrade leaves
    ("http://h/v1", "http://other/v1", True),
    ("http://h/v1", "http://h/v2", False),
])
def test_a_redirect_leaves_the_origin_on_another_host_port_or_scheme_but_not_on_an_upgrade(old, new, leaves):
    from openai_compatible.http.transport import _leaves_origin
    assert _leaves_origin(old, new) is leaves
