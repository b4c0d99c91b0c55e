"""The client's own HTTP transport (``urllib3`` pools under a thin layer) keeps what a ``requests`` session gave:
proxies from the environment (and ``NO_PROXY``) or the preset (with credentials, and a ``CONNECT`` tunnel for
HTTPS), the CA bundle, client certificates (mTLS), redirects without leaking the key to another host, and
cookies a gateway sets. Real servers: the fault server (plain or TLS), a forward proxy, ``openssl`` certificates."""
import base64
import shutil
import ssl
import subprocess

import pytest
from openai_compatible import APIConnectionError, Client, OpenAICompatibleError

from tests.servers.fault_server import Fault, FaultServer
from tests.servers.forward_proxy import ForwardProxy

KEY = "sk-transport-paths-0001"
HI = [{"role": "user", "content": "hi"}]
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
              "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def preset(url, **changes):
    return dict({"base_url": url, "models": ["fault-chat"], "api_key": KEY, "max_retries": 0}, **changes)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def make_cert(directory, name, *extra):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make a test certificate", pytrace=False)
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", f"/CN={name}", *extra], check=True, capture_output=True)
    return str(cert), str(key)


def tls_server(tmp_path, client_ca=None):
    """A fault server behind TLS (a certificate for 127.0.0.1); with ``client_ca``, it demands a client
    certificate signed by it."""
    cert, key = make_cert(tmp_path, "server", "-addext", "subjectAltName=IP:127.0.0.1")
    server = FaultServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    return server, cert


def test_plain_http_goes_through_the_environment_proxy_unless_no_proxy_names_the_host(fault_server, monkeypatch):
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        assert Client.from_preset(preset(fault_server.url)).chat(HI, model="fault-chat").text == "echo: hi"
        assert proxy.seen == [("POST", fault_server.url + "/chat/completions")]  # the absolute form, to a proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert Client.from_preset(preset(fault_server.url)).chat(HI, model="fault-chat").text == "echo: hi"
        assert len(proxy.seen) == 1 and fault_server.calls == 2


def test_the_environment_is_read_when_the_client_is_made_not_on_each_call(fault_server, monkeypatch):
    with ForwardProxy() as proxy:
        client = Client.from_preset(preset(fault_server.url))
        client.chat(HI, model="fault-chat")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # set after the first call: that client keeps its route
        client.chat(HI, model="fault-chat")
        assert proxy.seen == [] and fault_server.calls == 2


def test_the_preset_proxy_sends_its_credentials_and_a_refusal_never_shows_them(fault_server):
    password = "proxy-pass-0009"
    expected = "Basic " + base64.b64encode(f"me:{password}".encode()).decode()
    with ForwardProxy(require_auth=expected) as proxy:
        url = proxy.url.replace("http://", f"http://me:{password}@")
        assert Client.from_preset(preset(fault_server.url, proxy=url)).chat(HI, model="fault-chat").text == "echo: hi"
        assert proxy.auth_headers == [expected]
        wrong = proxy.url.replace("http://", "http://me:wrong-pass-0010@")
        with pytest.raises(OpenAICompatibleError) as info:
            Client.from_preset(preset(fault_server.url, proxy=wrong)).chat(HI, model="fault-chat")
        assert "407" in str(info.value) and "wrong-pass-0010" not in str(info.value)
    assert fault_server.calls == 1


def test_https_goes_through_a_proxy_tunnel_and_is_verified_against_the_ca_bundle(tmp_path):
    server, cert = tls_server(tmp_path)
    with server, ForwardProxy() as proxy:
        url = f"https://127.0.0.1:{server.port}/v1"
        client = Client.from_preset(preset(url, proxy=proxy.url, ca_bundle=cert))
        assert client.chat(HI, model="fault-chat").text == "echo: hi"
        assert proxy.seen == [("CONNECT", f"127.0.0.1:{server.port}")]  # the key crossed the proxy encrypted
        with pytest.raises(APIConnectionError, match="ca_bundle"):  # the default trust store refuses it
            Client.from_preset(preset(url, proxy=proxy.url)).chat(HI, model="fault-chat")


def test_a_server_demanding_a_client_certificate_gets_the_presets(tmp_path):
    client_cert, client_key = make_cert(tmp_path, "client")
    server, cert = tls_server(tmp_path, client_ca=client_cert)
    with server:
        url = f"https://127.0.0.1:{server.port}/v1"
        with pytest.raises(APIConnectionError):
            Client.from_preset(preset(url, ca_bundle=cert)).chat(HI, model="fault-chat")
        mtls = Client.from_preset(preset(url, ca_bundle=cert, client_cert=client_cert, client_key=client_key))
        assert mtls.chat(HI, model="fault-chat").text == "echo: hi"
        assert mtls.stream(HI, model="fault-chat").text() == "echo: hi"


@pytest.mark.parametrize(("changes", "carrier"), [
    ({}, "authorization"),
    ({"auth_scheme": "custom_header", "auth_header_name": "X-Portal-Key"}, "x-portal-key"),
    ({"extra_headers": [{"from": "X-Gateway-Token", "to": "gw-token-0012"}]}, "x-gateway-token"),
])
def test_a_redirect_to_another_host_keeps_the_request_but_not_the_credentials(fault_server, changes, carrier):
    with FaultServer() as other:
        # 307 keeps the method and body (RFC 9110, section 15.4.8); "localhost" is another host than 127.0.0.1
        target = other.url.replace("127.0.0.1", "localhost") + "/chat/completions"
        fault_server.script(Fault.error(307, None, headers={"Location": target}))
        result = Client.from_preset(preset(fault_server.url, **changes)).chat(HI, model="fault-chat")
        assert result.text == "echo: hi"
        assert carrier in fault_server.requests[0].headers
        moved = other.requests[0]
        assert moved.method == "POST" and moved.body["messages"] == HI
        assert carrier not in moved.headers and "user-agent" in moved.headers


def test_a_see_other_redirect_is_followed_as_a_get_on_the_same_host(fault_server):
    fault_server.script(Fault.error(303, None, headers={"Location": "/v1/models"}))
    with pytest.raises(OpenAICompatibleError):  # a model list is no chat answer
        Client.from_preset(preset(fault_server.url)).chat(HI, model="fault-chat")
    first, moved = fault_server.requests[:2]
    assert (first.method, moved.method, moved.path) == ("POST", "GET", "/v1/models")
    assert moved.headers["authorization"] == f"Bearer {KEY}" and moved.raw == b""


def test_a_cookie_the_gateway_sets_is_sent_back(fault_server):
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                           "finish_reason": "stop"}]}
    fault_server.script(Fault.error(200, answer, headers={"Set-Cookie": "lb=node-7; Path=/"}))
    client = Client.from_preset(preset(fault_server.url))
    assert client.chat(HI, model="fault-chat").text == "hello"
    assert client.chat(HI, model="fault-chat").text == "echo: hi"
    first, second = fault_server.requests
    assert "cookie" not in first.headers and second.headers["cookie"] == "lb=node-7"


def test_a_user_and_password_in_the_url_are_sent_as_basic_authentication(fault_server):
    url = fault_server.url.replace("http://", "http://me:url-pass-0011@")
    client = Client.from_preset(preset(url, auth_scheme="none", api_key=""))
    assert client.chat(HI, model="fault-chat").text == "echo: hi"
    expected = "Basic " + base64.b64encode(b"me:url-pass-0011").decode()
    assert fault_server.requests[0].headers["authorization"] == expected


def test_a_proxy_that_is_down_is_a_connection_error_and_the_check_names_the_proxy(fault_server):
    import socket

    from openai_compatible.check import run_checks

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client.from_preset(preset(fault_server.url, proxy=f"http://127.0.0.1:{port}"))
    with pytest.raises(APIConnectionError):
        client.chat(HI, model="fault-chat")
    reach = {r.name: r for r in run_checks(client)}["reachable"]
    assert reach.status == "fail" and "The proxy refused" in reach.meaning and "proxy" in reach.setting
    assert fault_server.calls == 0


def test_an_answer_keeps_the_redirects_that_led_to_it_in_order(fault_server):
    from openai_compatible import ConnectionSettings
    from openai_compatible.http.transport import Transport

    chat = fault_server.url + "/chat/completions"
    fault_server.script(Fault.error(307, None, headers={"Location": "/v1/chat/completions?attempt=2"}),
                        Fault.error(302, None, headers={"Location": "/v1/models"}))
    transport = Transport(ConnectionSettings.from_preset(preset(fault_server.url)))
    response = transport.request("POST", chat, data=b'{"model": "fault-chat"}',
                                 headers={"Content-Type": "application/json"})
    try:
        assert response.url == fault_server.url + "/models"  # whatever it answers: not a redirect
        assert [(r.status_code, r.url) for r in response.history] == [(307, chat), (302, chat + "?attempt=2")]
    finally:
        response.close()
    assert [(r.method, r.path) for r in fault_server.requests] == [
        ("POST", "/v1/chat/completions"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models")]


def test_a_query_straight_after_the_host_is_sent_on_the_root_path(fault_server):
    from openai_compatible import ConnectionSettings
    from openai_compatible.http.transport import Transport

    transport = Transport(ConnectionSettings.from_preset(preset(fault_server.url)))
    transport.request("GET", fault_server.url.removesuffix("/v1") + "?probe=1#part").close()
    sent = fault_server.requests[0]
    assert (sent.path, sent.query) == ("/", {"probe": "1"})


def test_an_environment_proxy_written_without_a_scheme_is_taken_as_http(fault_server, monkeypatch):
    # HTTP_PROXY=host:port, as curl and requests accept it
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", ""))
        assert Client.from_preset(preset(fault_server.url)).chat(HI, model="fault-chat").text == "echo: hi"
        assert proxy.seen == [("POST", fault_server.url + "/chat/completions")]


@pytest.mark.filterwarnings("ignore:SOCKS support in urllib3 requires")  # urllib3's own, before the ImportError
@pytest.mark.parametrize("variable, proxy, said", [
    ("ALL_PROXY", "socks5://me:socks-pass-0011@127.0.0.1:1080",
     "a SOCKS proxy needs the PySocks package, which the code env does not have"),
    ("HTTP_PROXY", "http://me:proxy-pass-0012@:8080", "the proxy URL names no host"),
])
def test_an_environment_proxy_the_client_cannot_use_is_named_as_the_proxy_not_a_header(fault_server, monkeypatch,
                                                                                        variable, proxy, said):
    # requests raises both as ValueErrors, which once read as a header value HTTP does not allow (the api_key)
    from openai_compatible import SettingsError
    monkeypatch.setenv(variable, proxy)
    with pytest.raises(SettingsError) as info:
        Client.from_preset(preset(fault_server.url)).chat(HI, model="fault-chat")
    assert str(info.value) == (f"chat with 'fault-chat': the request could not be sent through the proxy ({said}). "
                               "Check the environment's HTTP_PROXY, HTTPS_PROXY and ALL_PROXY, or set 'proxy' in the "
                               "preset (an http:// or https:// proxy).")
    assert fault_server.calls == 0


def test_the_sdk_client_verifies_tls_as_the_preset_says(tmp_path):
    # client.openai() builds its own TLS context: the default trust store refuses a self-signed server, the
    # preset's CA bundle accepts it, and verification turned off by the admin is off there too
    import openai
    server, cert = tls_server(tmp_path)
    with server:
        url = f"https://127.0.0.1:{server.port}/v1"
        for changes, accepted in (({}, False), ({"ca_bundle": cert}, True), ({"verify_tls": False}, True)):
            with Client.from_preset(preset(url, **changes)) as client:
                sdk = client.openai()
                assert sdk.max_retries == 0  # the preset's, not the SDK's default of 2
                if accepted:
                    answer = sdk.chat.completions.create(model="fault-chat", messages=HI)
                    assert answer.choices[0].message.content == "echo: hi", changes
                else:
                    with pytest.raises(openai.APIConnectionError):
                        sdk.chat.completions.create(model="fault-chat", messages=HI)


def test_the_oauth2_token_request_goes_through_the_presets_proxy_too(fault_server):
    token_url = fault_server.serve_tokens("tok-proxy-1")
    fault_server.require_auth("tok-proxy-1", scheme="bearer")
    with ForwardProxy() as proxy:
        oauth2 = preset(fault_server.url, proxy=proxy.url, auth_scheme="oauth2_client_credentials",
                        oauth2_token_url=token_url, oauth2_client_id="dss-app", oauth2_client_secret="s3cret-proxy-1")
        del oauth2["api_key"]
        assert Client.from_preset(oauth2).chat(HI, model="fault-chat").text == "echo: hi"
        assert proxy.seen == [("POST", token_url),
                              ("POST", fault_server.url + "/chat/completions")]


def test_both_http_stacks_trust_the_same_cas_whatever_ssl_cert_file_says(tmp_path, monkeypatch):
    # the client's own transport (as requests) and client.openai() (httpx) both trust certifi's CAs, or the
    # preset's or REQUESTS_CA_BUNDLE's bundle: OpenSSL's SSL_CERT_FILE, read by a default SSL context, is not one
    import openai
    server, cert = tls_server(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    with server:
        url = f"https://127.0.0.1:{server.port}/v1"
        with Client.from_preset(preset(url)) as client:
            with pytest.raises(APIConnectionError) as refused:
                client.chat(HI, model="fault-chat")
            message = str(refused.value)
            assert message.startswith(f"chat with 'fault-chat': TLS failed for {url}/chat/completions (")
            assert "(certificate verification failed)" in message
            assert message.endswith("). If the provider uses a corporate certificate authority, set 'ca_bundle' in "
                                    "the preset.")
            with pytest.raises(openai.APIConnectionError):
                client.openai().chat.completions.create(model="fault-chat", messages=HI)


@pytest.mark.parametrize("status", [307, 308])
def test_a_permanent_or_temporary_redirect_keeps_the_post_and_its_body(fault_server, status):
    # 307 and 308 keep the method and body (RFC 9110, sections 15.4.8 and 15.4.9)
    fault_server.script(Fault.error(status, None, headers={"Location": "/v1/chat/completions?moved=1"}))
    assert Client.from_preset(preset(fault_server.url)).chat(HI, model="fault-chat").text == "echo: hi"
    first, moved = fault_server.requests[:2]
    assert (moved.method, moved.path, moved.query) == ("POST", "/v1/chat/completions", {"moved": "1"})
    assert moved.body["messages"] == HI


def test_a_location_in_latin_1_is_followed_not_a_crash(fault_server):
    # HTTP header values are Latin-1 on the wire; a Location with a byte that is not UTF-8 is still followed
    fault_server.script(Fault.error(307, None, headers={"Location": "/v1/caf\u00e9/chat/completions"}))
    with pytest.raises(OpenAICompatibleError):  # the fault server has no API there
        Client.from_preset(preset(fault_server.url, max_retries=0)).chat(HI, model="fault-chat")
    assert len(fault_server.requests) == 2 and fault_server.requests[1].path.startswith("/v1/caf")


def test_the_environment_proxy_is_read_once_per_server_whatever_the_path(fault_server, monkeypatch):
    with ForwardProxy() as proxy:
        client = Client.from_preset(preset(fault_server.url, models=["fault-chat", "fault-embed"]))
        client.chat(HI, model="fault-chat")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)  # set after the first call to this server, on another path
        client.embed(["hi"], model="fault-embed")
        assert proxy.seen == [] and fault_server.calls == 2


@pytest.mark.parametrize("status, method", [(301, "GET"), (302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")])
def test_every_redirect_status_is_followed_and_a_post_moved_by_301_302_or_303_becomes_a_get(fault_server, status,
                                                                                            method):
    # what browsers and requests do (RFC 9110, section 15.4: a POST redirected by 301 or 302 is historically
    # sent again as a GET, by 303 always; 307 and 308 keep the method and body)
    from openai_compatible import ConnectionSettings
    from openai_compatible.http.transport import Transport

    chat = fault_server.url + "/chat/completions"
    fault_server.script(Fault.error(status, None, headers={"Location": "/v1/chat/completions?moved=1"}))
    transport = Transport(ConnectionSettings.from_preset(preset(fault_server.url)))
    response = transport.request("POST", chat, data=b'{"model": "fault-chat", "messages": []}',
                                 headers={"Content-Type": "application/json"})
    try:
        assert response.url == chat + "?moved=1"
        assert [(r.status_code, r.url) for r in response.history] == [(status, chat)]
    finally:
        response.close()
    moved = fault_server.requests[1]
    assert (len(fault_server.requests), moved.method, moved.path, moved.query) == (
        2, method, "/v1/chat/completions", {"moved": "1"})
    assert moved.raw == (b'{"model": "fault-chat", "messages": []}' if method == "POST" else b"")


def test_an_html_page_reached_by_a_redirect_names_the_page_it_was_sent_to(fault_server):
    # an SSO proxy sends the API call to its sign-in page (etalab-ia/OpenGateLLM#844): not retried, and the
    # message says where the request ended up (without the query, which may hold a key)
    from openai_compatible import InvalidResponseError

    from tests.servers.fault_server import when_route

    fault_server.add_rule(Fault.error(200, "<html><head><title>Sign in</title></head></html>",
                                      content_type="text/html"), when=when_route("models"))
    fault_server.script(Fault.error(302, None, headers={"Location": "/v1/models?sso=1"}))
    with pytest.raises(InvalidResponseError) as info:
        Client.from_preset(preset(fault_server.url, max_retries=2)).chat(HI, model="fault-chat")
    assert str(info.value) == (
        f"chat with 'fault-chat': HTTP 200 but the answer is an HTML page after a redirect to {fault_server.url}"
        "/models (a sign-in page or proxy stands in front of the API) ('Sign in'), not the API's JSON: check "
        "that the preset's URL is the API's (base_url usually ends in /v1), not a web UI or a login page.")
    assert [(r.method, r.path) for r in fault_server.requests] == [("POST", "/v1/chat/completions"),
                                                                   ("GET", "/v1/models")]


def test_a_server_that_never_completes_the_connection_is_a_connect_timeout_named_so():
    # a listener whose queue of connections waiting to be accepted is full: the kernel drops the next SYN, so a
    # connection never completes (the firewall that drops packets, without a network); the preset's connect
    # timeout decides, not the operating system's two minutes of SYN retries
    import socket

    from openai_compatible import APITimeoutError

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        held = []
        try:
            for _ in range(8):  # fill the queue: a connection that does not complete within 1 s shows it full
                probe = socket.socket()
                probe.settimeout(1.0)
                try:
                    probe.connect(("127.0.0.1", port))
                except socket.timeout:
                    probe.close()
                    break
                held.append(probe)
            else:
                pytest.fail("the listener's queue never filled", pytrace=False)
            url = f"http://127.0.0.1:{port}/v1"
            client = Client.from_preset(preset(url, connect_timeout_s=0.5, read_timeout_s=60))
            with pytest.raises(APITimeoutError) as info:
                client.chat(HI, model="fault-chat")
        finally:
            for probe in held:
                probe.close()
    assert str(info.value) == (f"chat with 'fault-chat': no answer from {url}/chat/completions within the connect "
                               "timeout (0.5s). Raise 'connect_timeout_s' in the preset if the provider is slow.")


def test_each_connection_is_opened_within_the_presets_connect_timeout(fault_server, monkeypatch):
    # the limit urllib3 gives the socket's connect (the full-queue test above shows what it decides; without it
    # a connection that never completes waits for the operating system's SYN retries, about two minutes)
    import urllib3.util.connection

    opened = urllib3.util.connection.create_connection
    limits = []

    def recording(address, timeout, *args, **kwargs):
        limits.append(timeout)
        return opened(address, timeout, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    client = Client.from_preset(preset(fault_server.url, connect_timeout_s=0.7, read_timeout_s=45))
    assert client.chat(HI, model="fault-chat").text == "echo: hi"
    assert limits == [0.7]


def test_the_sdk_client_sends_the_presets_client_certificate_with_verification_on_or_off(tmp_path):
    # client.openai() builds its own TLS context: the client certificate goes with it whether the server's is
    # checked against the CA bundle or not checked at all, as a certificate and key pair or one file holding both
    import openai
    client_cert, client_key = make_cert(tmp_path, "client")
    both = tmp_path / "client-both.pem"
    both.write_text(open(client_cert).read() + open(client_key).read())
    server, cert = tls_server(tmp_path, client_ca=client_cert)
    with server:
        url = f"https://127.0.0.1:{server.port}/v1"
        for changes in ({"verify_tls": False, "client_cert": client_cert, "client_key": client_key},
                        {"verify_tls": False, "client_cert": str(both)},
                        {"ca_bundle": cert, "client_cert": client_cert, "client_key": client_key},
                        {"ca_bundle": cert, "client_cert": str(both)}):
            with Client.from_preset(preset(url, **changes)) as client:
                answer = client.openai().chat.completions.create(model="fault-chat", messages=HI)
                assert answer.choices[0].message.content == "echo: hi", changes
                assert client.chat(HI, model="fault-chat").text == "echo: hi", changes
        for changes in ({"verify_tls": False}, {"ca_bundle": cert}):  # no client certificate: refused
            with Client.from_preset(preset(url, **changes)) as client, pytest.raises(openai.APIConnectionError):
                client.openai().chat.completions.create(model="fault-chat", messages=HI)
    assert server.calls == 8


def test_a_ca_directory_as_the_bundle_is_trusted_by_both_http_stacks(tmp_path):
    # 'ca_bundle' may name a directory of CA certificates named by their hash (OpenSSL's c_rehash layout, which
    # requests accepts as well): the client's transport and client.openai() both read it as one
    import openai
    server, cert = tls_server(tmp_path)
    subject_hash = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", cert], check=True,
                                  capture_output=True, text=True).stdout.strip()
    directory = tmp_path / "cas"
    directory.mkdir()
    (directory / f"{subject_hash}.0").write_text(open(cert).read())
    with server:
        url = f"https://127.0.0.1:{server.port}/v1"
        with Client.from_preset(preset(url, ca_bundle=str(directory))) as client:
            assert client.chat(HI, model="fault-chat").text == "echo: hi"
            answer = client.openai().chat.completions.create(model="fault-chat", messages=HI)
            assert answer.choices[0].message.content == "echo: hi"
        (tmp_path / "empty").mkdir()
        with Client.from_preset(preset(url, ca_bundle=str(tmp_path / "empty"))) as client:
            with pytest.raises(openai.APIConnectionError):  # a directory without that CA trusts nothing of it
                client.openai().chat.completions.create(model="fault-chat", messages=HI)
    assert server.calls == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_requests_through_a_proxy_arrive_whole_on_a_kept_connection_small_or_large(tmp_path, scheme):
    # a small body leaves with its request's head, a large one after it: both arrive whole, call after call on
    # the same connection (one tunnel for HTTPS; the absolute form each time for plain HTTP)
    server, cert = tls_server(tmp_path) if scheme == "https" else (FaultServer(), None)
    texts = ["small one", "x" * (300 * 1024), "small two", "y" * (300 * 1024)]
    with server, ForwardProxy() as proxy:
        url = f"{scheme}://127.0.0.1:{server.port}/v1"
        client = Client.from_preset(preset(url, proxy=proxy.url, ca_bundle=cert) if cert else preset(url,
                                                                                                    proxy=proxy.url))
        for text in texts:
            assert client.chat([{"role": "user", "content": text}], model="fault-chat").text == f"echo: {text}"
        assert [r.body["messages"][0]["content"] for r in server.requests] == texts
        if scheme == "https":
            assert proxy.seen == [("CONNECT", f"127.0.0.1:{server.port}")]
        else:
            assert proxy.seen == [("POST", url + "/chat/completions")] * len(texts)
