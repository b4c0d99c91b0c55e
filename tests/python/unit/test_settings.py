"""Connection settings: every preset problem is a clear SettingsError naming the field, before any request."""

import pytest
from openai_compatible import Client, ConnectionSettings, SettingsError, UnknownModelError
from openai_compatible.http.auth import endpoint_key, request_headers, request_query
from openai_compatible.settings import safe_url

KEY = "sk-unit-settings-key-0001"


def openai_preset(**changes):
    preset = {"style": "openai", "base_url": "http://127.0.0.1:9/v1", "models": ["m1", "m2"], "api_key": KEY}
    preset.update(changes)
    return preset


def azure_preset(**changes):
    preset = {
        "style": "azure",
        "target_uri": "https://res.openai.azure.com",
        "api_version": "2024-10-21",
        "auth_scheme": "api_key_header",
        "api_key": KEY,
        "endpoints": [
            {"name": "gpt", "kind": "azure_deployment", "deployment": "gpt-4o-dep"},
            {"name": "llama", "kind": "openai_v1", "target_uri": "https://llama.models.ai.azure.com",
             "api_key": "sk-endpoint-own-key-0002"},
        ],
    }
    preset.update(changes)
    return preset


def settings_error(preset) -> str:
    with pytest.raises(SettingsError) as info:
        ConnectionSettings.from_preset(preset)
    return str(info.value)


# --- missing or empty preset ------------------------------------------------------------------------

@pytest.mark.parametrize("preset", [None, {}])
def test_missing_or_empty_preset(preset):
    message = settings_error(preset)
    assert "preset" in message.lower()
    assert "connection" in message


def test_preset_that_is_not_a_dict():
    assert "dict" in settings_error(["style", "openai"])


def test_settings_error_is_a_value_error():
    with pytest.raises(ValueError):
        ConnectionSettings.from_preset({})


# --- URLs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["ftp://host/v1", "localhost:8000/v1", "host/v1", "http://", "file:///etc/v1"])
def test_base_url_must_be_http(url):
    message = settings_error(openai_preset(base_url=url))
    assert "'base_url'" in message
    assert "http(s)" in message


@pytest.mark.parametrize(("preset", "field", "advice"), [
    (openai_preset(base_url="host/v1"), "'base_url'", "Give the URL that exposes the API, typically ending in /v1."),
    (openai_preset(base_url="http://h:port/v1"), "'base_url'",
     "Give the URL that exposes the API, typically ending in /v1."),
    (openai_preset(replica_urls=["host2/v1"]), "'replica_urls[1]'",
     "Give the URL that exposes the API, typically ending in /v1."),
    (azure_preset(target_uri="res.openai.azure.com"), "'target_uri'",
     "Give the Target URI without /v1, e.g. https://my-resource.openai.azure.com."),
    (openai_preset(proxy="proxy.corp:3128"), "'proxy'", "Give the proxy URL, e.g. http://proxy.corp:3128."),
])
def test_a_bad_url_message_says_what_the_field_expects(preset, field, advice):
    message = settings_error(preset)
    assert field in message and message.endswith(advice)


@pytest.mark.parametrize("url", ["http://user:pw-0013@h:port/v1", "http://user:pw-0013@h:99999/v1"])
def test_a_bad_port_is_a_settings_error_that_hides_the_credentials(url):
    # urllib raises ValueError on reading such a port: the message must still be the preset's own
    message = settings_error(openai_preset(base_url=url))
    assert "'base_url' is not a valid URL" in message and "port" in message
    assert "pw-0013" not in message and "user" not in message


def test_empty_base_url():
    for value in ("", None, "   "):
        message = settings_error(openai_preset(base_url=value))
        assert "'base_url'" in message and "empty" in message


@pytest.mark.parametrize("suffix", ["/chat/completions", "/chat/completions/", "/embeddings"])
def test_custom_url_ending_in_an_api_path(suffix):
    message = settings_error(openai_preset(base_url="https://llm.corp/v1" + suffix))
    assert "'base_url'" in message
    assert "https://llm.corp/v1'" in message  # says what to give instead


@pytest.mark.parametrize("target", ["https://res.openai.azure.com/v1", "https://res.openai.azure.com/v1/",
                                    "https://res.openai.azure.com/openai/v1"])
def test_azure_target_uri_ending_in_v1(target):
    message = settings_error(azure_preset(target_uri=target))
    assert "'target_uri'" in message
    assert "without" in message and "/v1" in message


def test_azure_endpoint_target_uri_ending_in_v1_names_the_endpoint():
    preset = azure_preset()
    preset["endpoints"][1]["target_uri"] = "https://llama.models.ai.azure.com/v1"
    message = settings_error(preset)
    assert "endpoints[2].target_uri" in message


def test_azure_target_uri_not_http():
    assert "'target_uri'" in settings_error(azure_preset(target_uri="res.openai.azure.com"))


def test_azure_target_uri_with_api_path():
    assert "'target_uri'" in settings_error(azure_preset(target_uri="https://res/openai/deployments/x/chat/completions"))


def test_azure_endpoint_without_target_anywhere():
    preset = azure_preset(target_uri="")
    message = settings_error(preset)  # endpoint 1 has no target_uri of its own
    assert "endpoints[1].target_uri" in message


def test_azure_endpoints_can_carry_their_own_target_without_a_default():
    preset = azure_preset(target_uri="")
    preset["endpoints"] = [preset["endpoints"][1]]
    settings = ConnectionSettings.from_preset(preset)
    assert settings.endpoints[0].base == "https://llama.models.ai.azure.com/v1"


# --- endpoints ------------------------------------------------------------------------------------------

def test_endpoint_without_a_name():
    preset = azure_preset()
    preset["endpoints"].append({"name": "  ", "kind": "azure_deployment", "deployment": "d"})
    message = settings_error(preset)
    assert "endpoints[3].name" in message
    assert "empty" in message


def test_no_endpoints_in_azure_style():
    for value in ([], None):
        message = settings_error(azure_preset(endpoints=value))
        assert "'endpoints'" in message


def test_duplicate_endpoint_names():
    preset = azure_preset()
    preset["endpoints"].append({"name": "gpt", "deployment": "other"})
    assert "used twice" in settings_error(preset)


def test_endpoint_of_unknown_kind():
    preset = azure_preset()
    preset["endpoints"][0]["kind"] = "serverless"
    message = settings_error(preset)
    assert "endpoints[1].kind" in message and "azure_deployment" in message


def test_endpoint_that_is_not_an_object():
    assert "endpoints[1]" in settings_error(azure_preset(endpoints=["gpt"]))


def test_endpoints_not_a_list():
    assert "'endpoints'" in settings_error(azure_preset(endpoints={"name": "gpt"}))


def test_azure_urls_for_both_endpoint_kinds():
    settings = ConnectionSettings.from_preset(azure_preset())
    gpt, llama = settings.endpoints
    assert gpt.base == "https://res.openai.azure.com/openai/deployments/gpt-4o-dep"
    assert gpt.model_in_body is None  # the deployment is in the path
    assert llama.base == "https://llama.models.ai.azure.com/v1"
    assert llama.model_in_body == "llama"


def test_azure_deployment_defaults_to_the_name():
    preset = azure_preset()
    preset["endpoints"] = [{"name": "mini"}]
    settings = ConnectionSettings.from_preset(preset)
    assert settings.endpoints[0].kind == "azure_deployment"
    assert settings.endpoints[0].base.endswith("/openai/deployments/mini")


def test_azure_api_version_goes_in_the_query_string_of_deployments_only():
    client = Client.from_preset(azure_preset(api_version="2025-01-01-preview"))
    gpt, llama = client.settings.endpoints
    assert request_query(client.settings, gpt) == {"api-version": "2025-01-01-preview"}
    assert "api-version" not in request_query(client.settings, llama)


def test_azure_api_version_default():
    preset = azure_preset()
    del preset["api_version"]
    assert ConnectionSettings.from_preset(preset).api_version == "2024-10-21"


# --- models -----------------------------------------------------------------------------------------------

def test_unknown_model_openai_style():
    settings = ConnectionSettings.from_preset(openai_preset())
    with pytest.raises(UnknownModelError) as info:
        settings.endpoint_for("gpt-9")
    message = str(info.value)
    assert "'gpt-9'" in message
    assert "m1, m2" in message
    assert "'models'" in message


def test_unknown_model_says_how_to_offer_it_depending_on_discovery():
    # without discovery the message offers both fixes; with it, only the list (discovery already ran)
    without = ConnectionSettings.from_preset(openai_preset())
    with pytest.raises(UnknownModelError) as info:
        without.endpoint_for("gpt-9")
    assert str(info.value).endswith("Add it to the preset's 'models' list or turn on 'discover_models'.")
    with_discovery = ConnectionSettings.from_preset(openai_preset(discover_models=True))
    with pytest.raises(UnknownModelError) as info:
        with_discovery.endpoint_for("gpt-9", discovered=("found-1",))
    message = str(info.value)
    assert "Offered: m1, m2, found-1." in message
    assert message.endswith("Add it to the preset's 'models' list.") and "discover_models" not in message


def test_an_azure_preset_without_endpoints_says_what_an_endpoint_holds():
    for empty in ([], None):
        assert settings_error(azure_preset(endpoints=empty)) == (
            "Preset field 'endpoints' is empty: in Azure style, add one endpoint per model (name, kind, deployment, "
            "and its Target URI or API key when they differ).")


def test_chat_without_messages_is_refused_before_any_request():
    client = Client.from_preset(openai_preset())  # port 9: nothing listens there
    with pytest.raises(SettingsError) as info:
        client.chat([], model="m1")
    assert str(info.value) == "chat() needs at least one message."
    assert client.stats.snapshot()["http_calls"] == 0


def test_unknown_model_azure_style():
    settings = ConnectionSettings.from_preset(azure_preset())
    with pytest.raises(UnknownModelError) as info:
        settings.endpoint_for("gpt-4o-dep")  # the deployment name is not the model name recipes use
    assert "gpt, llama" in str(info.value)


def test_unknown_model_is_refused_before_any_request():
    client = Client.from_preset(openai_preset())  # port 9: nothing listens there
    with pytest.raises(UnknownModelError):
        client.chat([{"role": "user", "content": "hi"}], model="nope")
    with pytest.raises(UnknownModelError):
        client.embed(["hi"], model="nope")
    with pytest.raises(UnknownModelError):
        list(client.stream([{"role": "user", "content": "hi"}], model="nope"))
    assert client.stats.snapshot()["http_calls"] == 0


def test_no_model_given():
    settings = ConnectionSettings.from_preset(openai_preset())
    for model in ("", "  ", None):
        with pytest.raises(SettingsError) as info:
            settings.endpoint_for(model)
        assert "m1" in str(info.value)


def test_known_models_resolve_to_the_base_url():
    settings = ConnectionSettings.from_preset(openai_preset(base_url="http://h:1/v1/"))
    endpoint = settings.endpoint_for("m2")
    assert endpoint.base == "http://h:1/v1"
    assert endpoint.model_in_body == "m2"


def test_models_needed_unless_discovered():
    assert "'models'" in settings_error(openai_preset(models=[]))
    settings = ConnectionSettings.from_preset(openai_preset(models=[], discover_models=True))
    assert settings.models == () and settings.discover_models


def test_models_are_cleaned():
    settings = ConnectionSettings.from_preset(openai_preset(models=[" a ", "b", "", None, "a"]))
    assert settings.models == ("a", "b")
    settings = ConnectionSettings.from_preset(openai_preset(models="a, b\nc"))
    assert settings.models == ("a", "b", "c")


# --- types as DSS hands them ------------------------------------------------------------------------------

def test_ints_arrive_as_floats():
    settings = ConnectionSettings.from_preset(openai_preset(
        max_concurrency=4.0, requests_per_minute=120.0, tokens_per_minute=90000.0, max_retries=3.0,
        connect_timeout_s=5, read_timeout_s=30.5))
    assert (settings.max_concurrency, settings.requests_per_minute, settings.tokens_per_minute,
            settings.max_retries) == (4, 120, 90000, 3)
    assert all(isinstance(v, int) for v in (settings.max_concurrency, settings.requests_per_minute,
                                            settings.tokens_per_minute, settings.max_retries))
    assert settings.connect_timeout_s == 5.0 and settings.read_timeout_s == 30.5
    assert isinstance(settings.connect_timeout_s, float)


def test_unset_fields_take_defaults():
    settings = ConnectionSettings.from_preset(openai_preset(max_retries=None, streaming="", verify_tls=None,
                                                            read_timeout_s=""))
    assert settings.max_retries == 5
    assert settings.streaming == "auto"
    assert settings.verify_tls is True
    assert settings.read_timeout_s == 120.0


@pytest.mark.parametrize(("field", "value", "expect"), [
    ("max_retries", 2.5, "whole number"),
    ("max_retries", "many", "whole number"),
    ("max_retries", True, "whole number"),
    ("max_retries", -1, "between 0 and 50"),
    ("max_concurrency", -1, "between 0 and 1024"),
    ("concurrency_upper_bound", 0, "between 1 and 1024"),
    ("requests_per_minute", -5.0, "at least 0"),
    ("read_timeout_s", "slow", "number"),
    ("connect_timeout_s", 0, "at least 0.1"),
    ("verify_tls", "yes", "true or false"),
    ("discover_models", 1, "true or false"),
    ("base_url", 8080, "text"),
    ("api_key", 12345, "text"),
    ("models", 3, "list"),
    ("extra_headers", "X-Team: a", "key/value"),
    ("extra_headers", [{"from": "", "to": "value-without-name"}], "no name"),
    ("extra_query", ["a=b"], "'from' and 'to'"),
    ("style", "bedrock", "openai, azure"),
    ("auth_scheme", "basic", "bearer"),
    ("streaming", True, "auto, yes, no"),
    ("max_tokens_field", "max_output_tokens", "max_completion_tokens"),
    ("system_role", "assistant", "developer"),
    ("json_mode", "xml", "json_schema"),
])
def test_wrong_types_and_values_name_the_field(field, value, expect):
    message = settings_error(openai_preset(**{field: value}))
    assert f"'{field}'" in message
    assert expect in message


def test_numbers_as_strings_are_accepted():
    settings = ConnectionSettings.from_preset(openai_preset(max_retries="2", read_timeout_s="7.5"))
    assert settings.max_retries == 2 and settings.read_timeout_s == 7.5


def test_booleans_as_strings_are_accepted():
    assert ConnectionSettings.from_preset(openai_preset(verify_tls="false")).verify_tls is False


# --- trailing slashes and whitespace ------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://h:1/v1", "http://h:1/v1/", "http://h:1/v1//", " http://h:1/v1/ "])
def test_trailing_slashes_are_harmless(url):
    settings = ConnectionSettings.from_preset(openai_preset(base_url=url))
    assert settings.base_url == "http://h:1/v1"
    assert settings.endpoint_for("m1").base + "/chat/completions" == "http://h:1/v1/chat/completions"


def test_trailing_slash_on_azure_targets():
    preset = azure_preset(target_uri="https://res.openai.azure.com/")
    preset["endpoints"][1]["target_uri"] = "https://llama.models.ai.azure.com/"
    gpt, llama = ConnectionSettings.from_preset(preset).endpoints
    assert gpt.base == "https://res.openai.azure.com/openai/deployments/gpt-4o-dep"
    assert llama.base == "https://llama.models.ai.azure.com/v1"


# --- authentication -------------------------------------------------------------------------------------------

def test_per_user_key_missing():
    for value in (None, "", {}):
        message = settings_error(openai_preset(use_per_user_key=True, per_user_key=value))
        assert "per-user" in message and "Credentials" in message


def test_per_user_key_replaces_the_preset_key_everywhere():
    settings = ConnectionSettings.from_preset(azure_preset(use_per_user_key=True, per_user_key="sk-mine-0003"))
    assert settings.api_key == "sk-mine-0003"
    Client(settings)  # builds, with the user's key
    # the user's own key wins over an endpoint's key too
    assert endpoint_key(settings, settings.endpoints[1]) == "sk-mine-0003"
    assert request_headers(settings, settings.endpoints[1])["api-key"] == "sk-mine-0003"


def test_per_user_key_of_basic_type():
    settings = ConnectionSettings.from_preset(openai_preset(use_per_user_key=True,
                                                            per_user_key={"user": "me", "password": "pw-0004"}))
    assert settings.api_key == "pw-0004"


def test_endpoint_key_overrides_the_default_key():
    client = Client.from_preset(azure_preset())
    gpt, llama = client.settings.endpoints
    assert request_headers(client.settings, gpt)["api-key"] == KEY
    assert request_headers(client.settings, llama)["api-key"] == "sk-endpoint-own-key-0002"


def test_custom_header_and_query_param_need_names():
    assert "'auth_header_name'" in settings_error(openai_preset(auth_scheme="custom_header", auth_header_name=""))
    assert "'auth_query_param'" in settings_error(openai_preset(auth_scheme="query_param", auth_query_param=None))


@pytest.mark.parametrize("changes, message", [
    ({"auth_scheme": "custom_header", "auth_header_name": ""},
     "Preset field 'auth_header_name' is empty: with the 'custom_header' authentication scheme, give the "
     "header's name (e.g. Ocp-Apim-Subscription-Key)."),
    ({"auth_scheme": "custom_header", "auth_header_name": "X Key"},
     "Preset field 'auth_header_name' is 'X Key', which is not a valid HTTP header name: use letters, digits "
     "and - only (e.g. X-API-Key)."),
    ({"auth_scheme": "query_param", "auth_query_param": ""},
     "Preset field 'auth_query_param' is empty: with the 'query_param' authentication scheme, give the query "
     "parameter's name (e.g. key)."),
])
def test_an_authentication_scheme_without_its_name_says_which_field_and_what_to_give(changes, message):
    assert settings_error(openai_preset(**changes)) == message


@pytest.mark.parametrize(("scheme", "extra", "header", "query"), [
    ("bearer", {}, ("Authorization", f"Bearer {KEY}"), None),
    ("api_key_header", {}, ("api-key", KEY), None),
    ("custom_header", {"auth_header_name": "Ocp-Apim-Subscription-Key"}, ("Ocp-Apim-Subscription-Key", KEY), None),
    ("query_param", {"auth_query_param": "key"}, None, ("key", KEY)),
    ("none", {}, None, None),
])
def test_auth_schemes_place_the_key(scheme, extra, header, query):
    client = Client.from_preset(openai_preset(auth_scheme=scheme, **extra))
    endpoint = client.endpoint_for("m1")
    headers, params = request_headers(client.settings, endpoint), request_query(client.settings, endpoint)
    carried = [v for v in list(headers.values()) + list(params.values()) if KEY in v]
    assert len(carried) == (0 if scheme == "none" else 1)
    if header:
        assert headers[header[0]] == header[1]
    if query:
        assert params[query[0]] == query[1]


def test_no_key_means_no_auth_header():
    client = Client.from_preset(openai_preset(api_key=""))
    assert "Authorization" not in request_headers(client.settings, client.endpoint_for("m1"))


# --- headers, query, network ------------------------------------------------------------------------------------

def test_key_value_lists_as_dss_hands_them():
    settings = ConnectionSettings.from_preset(openai_preset(
        extra_headers=[{"from": "X-Team", "to": "data"}, {"from": "", "to": ""}, {"from": " X-Env ", "to": None}],
        extra_query={"tenant": "acme"}))
    assert settings.extra_headers == (("X-Team", "data"), ("X-Env", ""))
    assert settings.extra_query == (("tenant", "acme"),)


def test_proxy_must_be_a_url():
    assert "'proxy'" in settings_error(openai_preset(proxy="proxy.corp:3128"))


def test_client_key_needs_a_certificate():
    assert "'client_key'" in settings_error(openai_preset(client_key="/etc/key.pem"))


def test_tls_and_proxy_reach_the_transport(monkeypatch):
    import certifi

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    client = Client.from_preset(openai_preset(ca_bundle="/etc/corp-ca.pem", client_cert="/c.pem",
                                              client_key="/k.pem", proxy="http://proxy.corp:3128"))
    pools = client.transport.pool_options  # what every urllib3 pool of the connection is made with
    assert pools["ca_certs"] == "/etc/corp-ca.pem" and pools["cert_reqs"] == "CERT_REQUIRED"
    assert (pools["cert_file"], pools["key_file"]) == ("/c.pem", "/k.pem")
    assert client.transport.proxies == {"http": "http://proxy.corp:3128", "https": "http://proxy.corp:3128"}
    default = Client.from_preset(openai_preset()).transport.pool_options
    assert default["cert_reqs"] == "CERT_REQUIRED" and default["ca_certs"] == certifi.where()
    assert Client.from_preset(openai_preset(verify_tls=False)).transport.pool_options["cert_reqs"] == "CERT_NONE"
    assert "cert_file" not in default


def test_the_environment_is_read_once_and_the_preset_wins(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/env-ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.corp")
    client = Client.from_preset(openai_preset())
    assert client.transport.pool_options["ca_certs"] == "/etc/env-ca.pem"
    assert client.transport.proxies_for("https://api.example.com/v1/chat/completions") == {"https": "http://env-proxy:3128"}
    assert client.transport.proxies_for("https://llm.internal.corp/v1/chat/completions") is None
    own = Client.from_preset(openai_preset(ca_bundle="/etc/corp-ca.pem", proxy="http://proxy.corp:3128"))
    assert own.transport.pool_options["ca_certs"] == "/etc/corp-ca.pem"
    assert own.transport.proxies_for("https://api.example.com/v1") == {"http": "http://proxy.corp:3128",
                                                              "https": "http://proxy.corp:3128"}
    assert Client.from_preset(openai_preset(verify_tls=False)).transport.pool_options["cert_reqs"] == "CERT_NONE"


# --- secrets --------------------------------------------------------------------------------------------------------

def test_repr_of_settings_and_client_holds_no_secret():
    preset = azure_preset(extra_headers=[{"from": "X-Gateway-Token", "to": "gw-token-0005"}],
                          extra_query=[{"from": "sig", "to": "sig-value-0006"}],
                          proxy="http://user:proxy-pass-0007@proxy.corp:3128")
    settings = ConnectionSettings.from_preset(preset)
    client = Client(settings)
    texts = [repr(settings), str(settings), repr(client), repr(settings.endpoints), repr(client.compat),
             repr(client.stats), repr(client._redact)]
    for secret in (KEY, "sk-endpoint-own-key-0002", "gw-token-0005", "sig-value-0006", "proxy-pass-0007"):
        assert secret in settings.secrets()
        assert not any(secret in text for text in texts), secret


def test_overrides():
    client = Client.from_preset(openai_preset(), max_retries=0, read_timeout_s=1.0)
    assert client.settings.max_retries == 0
    assert client.retry.max_retries == 0
    assert client.settings.read_timeout_s == 1.0


def test_azure_deployments_default_to_max_completion_tokens():
    assert Client.from_preset(azure_preset(endpoints=[{"name": "gpt"}])).compat.token_field == "max_completion_tokens"
    assert Client.from_preset(openai_preset()).compat.token_field == "max_tokens"
    explicit = Client.from_preset(openai_preset(max_tokens_field="max_completion_tokens"))
    assert explicit.compat.token_field == "max_completion_tokens"


# --- secrets as people paste them -----------------------------------------------------------------------------------

def test_surrounding_whitespace_of_every_secret_is_removed():
    settings = ConnectionSettings.from_preset(azure_preset(
        api_key=f"  {KEY}\n",
        endpoints=[{"name": "gpt", "api_key": "\tsk-endpoint-key-0003\r\n"}],
        extra_headers=[{"from": "X-Gateway-Token", "to": " gw-token-0004\n"}],
        extra_query=[{"from": "sig", "to": "sig-0005 \n"}]))
    assert settings.api_key == KEY
    assert settings.endpoints[0].api_key == "sk-endpoint-key-0003"
    assert settings.extra_headers == (("X-Gateway-Token", "gw-token-0004"),)
    assert settings.extra_query == (("sig", "sig-0005"),)
    per_user = ConnectionSettings.from_preset(openai_preset(api_key="", use_per_user_key=True,
                                                            per_user_key="sk-mine-0006\n"))
    assert per_user.api_key == "sk-mine-0006"


def test_a_key_of_whitespace_only_is_no_key():
    assert ConnectionSettings.from_preset(openai_preset(api_key=" \n")).api_key is None
    assert "'per_user_key'" in settings_error(openai_preset(use_per_user_key=True, per_user_key="\n"))


SECRET_INSIDE = "sk-SECRET-inside-0007"


@pytest.mark.parametrize(("preset", "field"), [
    (openai_preset(api_key="sk-SECRET-\ninside-0007"), "'api_key'"),
    (openai_preset(api_key="sk-SECRET-inside-0007\x00"), "'api_key'"),
    (openai_preset(api_key="sk-SECRET-inside\u200b-0007"), "'api_key'"),  # a zero-width space from a web page
    (openai_preset(use_per_user_key=True, per_user_key="sk-SECRET-\rinside-0007"), "'per_user_key'"),
    (azure_preset(endpoints=[{"name": "gpt", "api_key": "sk-SECRET-\tinside-0007"}]), "'endpoints[1].api_key'"),
    (openai_preset(extra_headers=[{"from": "X-Token", "to": "sk-SECRET-\ninside-0007"}]),
     "'extra_headers' entry 'X-Token'"),
    (openai_preset(extra_query=[{"from": "sig", "to": "sk-SECRET-\x1binside-0007"}]), "'extra_query' entry 'sig'"),
    (openai_preset(organization="org-\nSECRET"), "'organization'"),
])
def test_a_secret_holding_a_control_character_is_refused_without_showing_it(preset, field):
    message = settings_error(preset)
    assert field in message and "control or invisible character" in message
    for piece in ("sk-SECRET", "inside-0007", "org-"):
        assert piece not in message


def test_a_non_latin1_key_cannot_go_in_a_header_but_can_go_in_the_url():
    key = "sk-k€y-0008"
    for scheme in ("bearer", "api_key_header"):
        message = settings_error(openai_preset(auth_scheme=scheme, api_key=key))
        assert "'api_key'" in message and "Latin-1" in message and key not in message
    assert ConnectionSettings.from_preset(openai_preset(auth_scheme="query_param", api_key=key)).api_key == key


def test_settings_built_without_the_reader_are_normalised_too():
    # overrides, a notebook's own ConnectionSettings(...), dataclasses.replace: all go through __post_init__
    assert Client.from_preset(openai_preset(), api_key=f"{KEY}\n").settings.api_key == KEY
    with pytest.raises(SettingsError, match="'api_key'") as info:
        Client.from_preset(openai_preset(), api_key="sk-SECRET-\nzz-0010")
    assert "SECRET" not in str(info.value) and "zz-0010" not in str(info.value)
    with pytest.raises(SettingsError, match="'extra_headers' entry 'X-A'"):
        ConnectionSettings(base_url="http://h/v1", models=("m",), extra_headers=(("X-A", "a\nb"),))
    from openai_compatible.settings import Endpoint
    assert Endpoint(name="e", kind="openai_v1", base="http://h/v1", api_key=" k-0009 ").api_key == "k-0009"


def test_a_non_latin1_extra_header_value_is_refused_but_a_query_value_is_sent():
    value = "t\u20acam-0011"  # a euro sign: outside Latin-1, which a header cannot carry
    message = settings_error(openai_preset(extra_headers=[{"from": "X-Team", "to": value}]))
    assert "'extra_headers' entry 'X-Team'" in message and "Latin-1" in message and value not in message
    with pytest.raises(SettingsError, match="'extra_headers' entry 'X-B'.*Latin-1"):
        ConnectionSettings(base_url="http://h/v1", models=("m",), extra_headers=(("X-B", value),))
    settings = ConnectionSettings.from_preset(openai_preset(extra_query=[{"from": "team", "to": value}]))
    assert settings.extra_query == (("team", value),)


def test_an_endpoint_key_error_names_the_endpoint():
    from openai_compatible.settings import Endpoint
    with pytest.raises(SettingsError) as info:
        Endpoint(name="llama-east", kind="openai_v1", base="http://h/v1", api_key="k-\n0012")
    assert "'endpoints.api_key' entry 'llama-east'" in str(info.value) and "0012" not in str(info.value)


@pytest.mark.parametrize(("preset", "field"), [
    (openai_preset(auth_scheme="custom_header", auth_header_name="X API Key"), "'auth_header_name'"),
    (openai_preset(auth_scheme="custom_header", auth_header_name="X-Key:"), "'auth_header_name'"),
    (openai_preset(extra_headers=[{"from": "X Team", "to": "data"}]), "'extra_headers'"),
])
def test_header_names_must_be_http_tokens(preset, field):
    message = settings_error(preset)
    assert field in message and "header name" in message


def test_a_header_name_of_an_unused_scheme_is_not_checked():
    settings = ConnectionSettings.from_preset(openai_preset(auth_scheme="bearer", auth_header_name="not used"))
    assert settings.auth_scheme == "bearer"


# --- unknown fields and defaults of dict presets ----------------------------------------------------------------------

@pytest.mark.parametrize(("key", "close"), [("baseurl", "base_url"), ("api-key", "api_key"), ("BaseURL", "base_url"),
                                            ("max_retry", "max_retries"), ("auth_header", "auth_header_name")])
def test_an_unknown_field_is_named_with_the_closest_known_one(key, close):
    preset = openai_preset()
    preset[key] = preset.pop("base_url") if close == "base_url" else "x"
    message = settings_error(preset)
    assert f"'{key}'" in message and f"did you mean '{close}'?" in message


def test_an_unknown_field_far_from_any_is_named_alone():
    message = settings_error(openai_preset(zzqqxx=1))
    assert "'zzqqxx'" in message and "did you mean" not in message


def test_fields_dss_adds_itself_are_not_unknown():
    settings = ConnectionSettings.from_preset(openai_preset(__credentials={"per_user_key": "x"}))
    assert settings.base_url == "http://127.0.0.1:9/v1"


def test_an_unknown_endpoint_field_is_named():
    message = settings_error(azure_preset(endpoints=[{"name": "gpt", "deploymnet": "gpt-4o"}]))
    assert "'endpoints[1]'" in message and "'deploymnet'" in message and "did you mean 'deployment'?" in message


def test_dict_presets_get_the_descriptor_defaults_of_header_and_parameter_names():
    header = Client.from_preset(openai_preset(auth_scheme="custom_header"))
    assert request_headers(header.settings, header.endpoint_for("m1"))["Ocp-Apim-Subscription-Key"] == KEY
    query = Client.from_preset(openai_preset(auth_scheme="query_param"))
    assert request_query(query.settings, query.endpoint_for("m1"))["key"] == KEY


# --- how a refused key was sent -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "expect"), [
    ({"auth_scheme": "bearer"}, "the 'Authorization: Bearer ...' header (auth_scheme 'bearer')"),
    ({"auth_scheme": "api_key_header"}, "the 'api-key' header (auth_scheme 'api_key_header')"),
    ({"auth_scheme": "custom_header", "auth_header_name": "X-Corp-Key"}, "the 'X-Corp-Key' header"),
    ({"auth_scheme": "query_param", "auth_query_param": "code"}, "the 'code' query parameter"),
    ({"auth_scheme": "none"}, "No key was sent (auth_scheme 'none')"),
    ({"api_key": ""}, "No key was sent: the preset's 'api_key' is empty"),
    ({"api_key": "", "use_per_user_key": True, "per_user_key": KEY}, "The key (your per-user key) was sent in"),
])
def test_auth_description_names_the_scheme_never_the_key(changes, expect):
    settings = ConnectionSettings.from_preset(openai_preset(**changes))
    text = settings.auth_description(bool(settings.api_key))
    assert expect in text and KEY not in text


@pytest.mark.parametrize("target, given, suggested", [
    ("https://res.openai.azure.com/v1", "ends in", "https://res.openai.azure.com"),
    ("https://gw.example.com/v1/azure?key=k", "holds", "https://gw.example.com/azure"),
    ("https://gw.example.com/azure/v1/", "ends in", "https://gw.example.com/azure"),
])
def test_an_azure_target_uri_with_v1_gets_the_uri_to_give_instead(target, given, suggested):
    assert settings_error(azure_preset(target_uri=target)) == (
        f"Preset field 'target_uri' {given} /v1: in Azure style, give the Target URI *without* /v1 "
        f"('{suggested}'); the plugin adds the API paths itself.")


def test_an_endpoint_without_a_target_anywhere_is_told_where_to_give_one():
    assert settings_error(azure_preset(target_uri="")) == (
        "Preset field 'endpoints[1].target_uri' is empty and the preset has no 'target_uri': give the Target URI "
        "of this endpoint or of the whole preset.")


def test_an_endpoints_own_target_uri_with_v1_in_its_path_is_refused_by_name():
    preset = azure_preset()
    preset["endpoints"][1]["target_uri"] = "https://llama.models.ai.azure.com/v1/gw"
    assert settings_error(preset).startswith("Preset field 'endpoints[2].target_uri' holds /v1")


def test_a_url_shown_in_a_message_loses_its_query_and_credentials():
    from openai_compatible.settings import safe_url

    assert safe_url("https://user:pw@llm.corp:8443/v1?key=secret") == "https://llm.corp:8443/v1"
    assert safe_url("llm.corp/v1?key=secret") == "llm.corp/v1"  # no scheme: only the query goes


def test_settings_built_in_code_refuse_a_bad_query_value_by_its_name():
    with pytest.raises(SettingsError) as caught:
        ConnectionSettings(base_url="https://llm.corp/v1", models=("m",), extra_query=(("sig", "sk-SECRET-\n-0009"),))
    assert "'extra_query' entry 'sig'" in str(caught.value) and "sk-SECRET" not in str(caught.value)


def test_settings_built_in_code_refuse_an_endpoint_key_a_header_cannot_carry():
    from openai_compatible.settings import Endpoint

    endpoint = Endpoint(name="gpt", kind="azure_deployment", base="https://res.example.com/openai/deployments/gpt",
                        deployment="gpt", api_key="sk-k€y-0010")
    with pytest.raises(SettingsError) as caught:
        ConnectionSettings(style="azure", endpoints=(endpoint,), auth_scheme="api_key_header")
    assert str(caught.value).startswith("Preset field 'endpoints.api_key' entry 'gpt' holds a character that an "
                                        "HTTP header cannot carry")
    assert "k€y" not in str(caught.value)


def test_only_trailing_slashes_are_trimmed_from_base_url():
    settings = ConnectionSettings.from_preset({"base_url": "https://gw.example.com/v1/APEX//", "models": ["m"]})
    assert settings.base_url == "https://gw.example.com/v1/APEX"


def endpoint_target(target):
    preset = azure_preset()
    preset["endpoints"][1]["target_uri"] = target
    return preset


@pytest.mark.parametrize("preset, message", [
    (openai_preset(auth_scheme="custom_header", auth_header_name=""),
     "Preset field 'auth_header_name' is empty: with the 'custom_header' authentication scheme, give the header's "
     "name (e.g. Ocp-Apim-Subscription-Key)."),
    (openai_preset(client_key="/etc/tls/client.key"),
     "Preset field 'client_key' is set without 'client_cert': give the client certificate path too (or put "
     "certificate and key in one PEM in 'client_cert')."),
    (azure_preset(endpoints=[], base_url="https://llm.corp/v1"),
     "Preset field 'endpoints' is empty, but the OpenAI-style field 'base_url' is filled in: set 'style' to openai "
     "(one URL serving many models), or add one endpoint per model."),
    (openai_preset(base_url=""),
     "Preset field 'base_url' is empty: give the Custom URL that exposes the API, typically ending in /v1 (e.g. "
     "http://ollama.corp:11434/v1)."),
    (openai_preset(base_url="", target_uri="https://res.openai.azure.com"),
     "Preset field 'base_url' is empty, but the Azure-style fields 'target_uri' and 'endpoints' are filled in: set "
     "'style' to azure (one endpoint per model), or give the Custom URL that exposes the API."),
    (openai_preset(models=[]),
     "Preset field 'models' is empty: list the model IDs as the provider names them, or turn on 'discover_models' "
     "to read them from GET /models."),
    # each API path a Custom URL may wrongly end in, the legacy completions one included
    (openai_preset(base_url="https://llm.corp/v1/chat/completions"),
     "Preset field 'base_url' ends in '/chat/completions': give the URL the API paths are appended to, i.e. "
     "'https://llm.corp/v1'."),
    (openai_preset(base_url="https://llm.corp/v1/completions"),
     "Preset field 'base_url' ends in '/completions': give the URL the API paths are appended to, i.e. "
     "'https://llm.corp/v1'."),
    (openai_preset(base_url="https://llm.corp/v1/embeddings"),
     "Preset field 'base_url' ends in '/embeddings': give the URL the API paths are appended to, i.e. "
     "'https://llm.corp/v1'."),
    (openai_preset(replica_urls=["https://llm2.corp/v1/completions"]),
     "Preset field 'replica_urls[1]' ends in '/completions': give the URL the API paths are appended to, i.e. "
     "'https://llm2.corp/v1'."),
    # each API path a Target URI may wrongly end in
    (azure_preset(target_uri="https://res.openai.azure.com/gw/chat/completions"),
     "Preset field 'target_uri' includes an API path: give only the Target URI (scheme and host, plus any gateway "
     "prefix)."),
    (azure_preset(target_uri="https://res.openai.azure.com/gw/embeddings"),
     "Preset field 'target_uri' includes an API path: give only the Target URI (scheme and host, plus any gateway "
     "prefix)."),
    (azure_preset(target_uri="https://res.openai.azure.com/v1"),
     "Preset field 'target_uri' ends in /v1: in Azure style, give the Target URI *without* /v1 "
     "('https://res.openai.azure.com'); the plugin adds the API paths itself."),
    (azure_preset(target_uri="https://res.openai.azure.com/openai/v1/gw"),
     "Preset field 'target_uri' holds /v1: in Azure style, give the Target URI *without* /v1 "
     "('https://res.openai.azure.com/openai/gw'); the plugin adds the API paths itself."),
    # every Target URI is checked alike, an endpoint's and a replica's too, and its message names it
    (endpoint_target("https://llama.models.ai.azure.com/v1"),
     "Preset field 'endpoints[2].target_uri' ends in /v1: in Azure style, give the Target URI *without* /v1 "
     "('https://llama.models.ai.azure.com'); the plugin adds the API paths itself."),
    (endpoint_target("https://llama.models.ai.azure.com/embeddings"),
     "Preset field 'endpoints[2].target_uri' includes an API path: give only the Target URI (scheme and host, plus "
     "any gateway prefix)."),
    (azure_preset(replica_target_uris=["https://res2.openai.azure.com/chat/completions"]),
     "Preset field 'replica_target_uris[1]' includes an API path: give only the Target URI (scheme and host, plus "
     "any gateway prefix)."),
    (azure_preset(target_uri="res.openai.azure.com"),
     "Preset field 'target_uri' is not an http(s) URL: 'res.openai.azure.com'. Give the Target URI without /v1, "
     "e.g. https://my-resource.openai.azure.com."),
    (azure_preset(target_uri=""),
     "Preset field 'endpoints[1].target_uri' is empty and the preset has no 'target_uri': give the Target URI of "
     "this endpoint or of the whole preset."),
])
def test_settings_errors_say_what_to_do_word_for_word(preset, message):
    assert settings_error(preset) == message


def test_a_missing_or_unknown_preset_says_where_presets_come_from():
    assert settings_error({}) == ("No connection preset: choose an 'OpenAI-compatible connection' preset in the "
                                  "'connection' parameter (an admin defines presets in the plugin's settings).")
    assert settings_error(openai_preset(base_urll="x")).endswith(
        "Known fields are those of the 'OpenAI-compatible connection' parameter set (README).")


@pytest.mark.parametrize("azure_field", [{"target_uri": "https://res.openai.azure.com"},
                                         {"endpoints": [{"name": "gpt", "deployment": "gpt"}]}])
def test_an_openai_style_preset_with_only_azure_fields_is_told_to_set_the_style(azure_field):
    with pytest.raises(SettingsError, match="set 'style' to azure"):
        ConnectionSettings.from_preset({"style": "openai", **azure_field})


def test_an_extra_query_parameter_without_a_value_is_sent_empty():
    settings = ConnectionSettings.from_preset({"base_url": "http://h/v1", "models": ["m"],
                                               "extra_query": [{"from": "flag", "to": None}]})
    assert settings.extra_query == (("flag", ""),)


def test_messages_for_a_preset_of_the_wrong_shape_whole():
    with pytest.raises(SettingsError) as caught:
        ConnectionSettings.from_preset([1, 2])
    assert str(caught.value) == "The connection preset must be a dict of settings, not list."
    with pytest.raises(SettingsError) as caught:
        ConnectionSettings.from_preset({"style": "azure", "target_uri": "https://r.example.com",
                                        "endpoints": [{"name": "gpt", "api_key": 42}]})
    assert str(caught.value) == "Preset field 'endpoints[1].api_key' must be text."


def test_a_model_the_preset_does_not_offer_is_named_with_what_it_offers():
    listed = ConnectionSettings.from_preset({"base_url": "http://h:1/v1", "models": ["a", "b"]})
    with pytest.raises(UnknownModelError) as caught:
        listed.endpoint_for("gpt-4o")
    assert str(caught.value) == ("Model 'gpt-4o' is not offered by this preset. Offered: a, b. Add it to the preset's "
                                 "'models' list or turn on 'discover_models'.")
    discovering = ConnectionSettings.from_preset({"base_url": "http://h:1/v1", "discover_models": True})
    with pytest.raises(UnknownModelError) as caught:
        discovering.endpoint_for("gpt-4o")
    assert str(caught.value) == ("Model 'gpt-4o' is not offered by this preset. Offered: none. Add it to the "
                                 "preset's 'models' list.")


@pytest.mark.parametrize("url, shown", [
    ("https://alice:pw@Host.Example:8443/v1?api-key=s#top", "https://Host.Example:8443/v1"),
    ("http://[::1]:8080/v1", "http://[::1]:8080/v1"),  # an IPv6 host keeps its brackets
    ("https://u:p@host:99999/v1", "https://host:99999/v1"),  # a port out of range is shown as typed
    # not URLs with a host: what precedes the last @ may be credentials all the same
    ("alice:pw@host:8000/v1?key=s", "host:8000/v1"),  # read as scheme "alice", path "pw@host..."
    ("//alice:pw@host/v1", "host/v1"),
    ("host/v1#section", "host/v1"),  # no scheme: the fragment goes too
    # an @ after a '#' (or '?') may end a password holding that character: nothing of such a URL shows
    ("host/v1#from:alice@corp", "(URL not shown: an '@' follows its '?' or '#', so a part of it may be a password)"),
    ("  ", "(unreadable URL)"),
    # a password holding '/' ends a parser's host early (host 'u', port 'pa'): what precedes the last @ still goes,
    # and the *** says so, since a path holding an '@' looks the same
    ("http://u:pa/SECRET@host:8000/v1?k=s", "http://***@host:8000/v1"),
    ("http://u:SECRET@[::1/v1", "http://[::1/v1"),  # an unclosed IPv6 bracket, which urlsplit refuses
    ("http://[::1/v1?key=SECRET", "http://[::1/v1"),
    # an @ after a ? or #: in a password or in the query, nothing of the URL is safe to show
    ("http://u:pa#SECRET@host/v1", "(URL not shown: an '@' follows its '?' or '#', so a part of it may be a password)"),
    ("http://u:pa?SECRET@host/v1", "(URL not shown: an '@' follows its '?' or '#', so a part of it may be a password)"),
    ("u:pa#SECRET@host/v1", "(URL not shown: an '@' follows its '?' or '#', so a part of it may be a password)"),
    ("http://host/v1?user=a@b.c&key=SECRET",
     "(URL not shown: an '@' follows its '?' or '#', so a part of it may be a password)"),
])
def test_a_url_in_a_message_never_shows_its_credentials_or_query(url, shown):
    assert safe_url(url) == shown


@pytest.mark.parametrize("url, shown", [
    # an '@' in the path reads like a password holding '/': nothing before the last '@' shows, and the *** says that
    # what follows it is not surely the host
    ("https://host/path@b", "https://***@b"),
    ("https://llm.corp/v1/models/team@corp/chat", "https://***@corp/chat"),
    ("llm.corp/deployments/a@b/v1", "***@b/v1"),
    ("https://alice:pa/ss@host/v1", "https://***@host/v1"),
    ("https://TOKEN/PART@host/v1", "https://***@host/v1"),  # a token as user name, holding a '/'
    ("file:///x@y", "file://***@y"),  # no host at all, the path holds the '@'
    # plain credentials: the host after them is the URL's own, shown as it is
    ("https://alice:pw@host/v1", "https://host/v1"),
    ("//alice:pw@host/v1", "host/v1"),
])
def test_a_url_whose_last_at_may_follow_a_path_says_that_something_was_hidden(url, shown):
    assert safe_url(url) == shown


@pytest.mark.parametrize("url", ["http://user:pa/SECRET@llm.corp:8000/v1", "http://user:pa#SECRET@llm.corp/v1",
                                 "http://user:pa?SECRET@llm.corp/v1", "http://user:SECRET@[::1/v1"])
def test_a_base_url_with_a_password_that_breaks_it_is_refused_by_name_without_the_password(url):
    message = settings_error({"base_url": url, "models": ["m"]})
    assert message.startswith("Preset field 'base_url' is not a valid URL: ")
    assert "SECRET" not in message and "user" not in message


@pytest.mark.parametrize(("overrides", "expect"), [
    ({"max_concurrency": -1}, "'max_concurrency'"),
    ({"max_concurrency": 100000}, "between 0 and 1024"),
    ({"max_concurrency": "abc"}, "whole number"),
    ({"max_concurency": 4}, "max_concurrency"),  # misspelt: the closest field is named
    ({"read_timeout_s": "slow"}, "'read_timeout_s'"),
])
def test_keyword_overrides_are_validated_as_the_presets_own_fields(overrides, expect):
    preset = {"base_url": "https://llm.example/v1", "models": ["m"], "api_key": "sk-x"}
    for connect in (Client.from_preset, ConnectionSettings.from_preset):
        with pytest.raises(SettingsError) as caught:
            connect(preset, **overrides)
        assert expect in str(caught.value)
    assert ConnectionSettings.from_preset(preset, max_concurrency=4.0).max_concurrency == 4
    assert ConnectionSettings.from_preset(preset, max_retries=None).max_retries == 5  # unset: the default


def test_a_job_may_lower_the_presets_concurrency_never_raise_it():
    preset = {"base_url": "https://llm.example/v1", "models": ["m"], "api_key": "sk-x"}
    automatic = ConnectionSettings.from_preset(preset, max_concurrency=0, concurrency_upper_bound=64)
    assert automatic.capped(8).concurrency_upper_bound == 8 and automatic.capped(8).max_concurrency == 0
    assert automatic.capped(8).concurrency_ceiling == 8
    assert automatic.capped(100) is automatic and automatic.capped(None) is automatic
    fixed = ConnectionSettings.from_preset(preset, max_concurrency=4)
    assert fixed.capped(2).max_concurrency == 2 and fixed.capped(16) is fixed
    assert fixed.concurrency_ceiling == 4
