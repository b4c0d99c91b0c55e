"""Where the key goes for each authentication scheme: one function, used by the client and the SDK handoff."""
import pytest
from openai_compatible import ConnectionSettings
from openai_compatible.http.auth import SCHEMES, credentials, endpoint_key, request_headers, scheme_credentials

KEY = "sk-unit-auth-key-0001"


@pytest.mark.parametrize(("scheme", "headers", "query"), [
    ("bearer", {"Authorization": f"Bearer {KEY}"}, {}),
    ("api_key_header", {"api-key": KEY}, {}),
    ("custom_header", {"X-Gateway-Key": KEY}, {}),
    ("query_param", {}, {"code": KEY}),
    ("none", {}, {}),
])
def test_each_scheme_places_the_key(scheme, headers, query):
    assert scheme_credentials(scheme, KEY, header_name="X-Gateway-Key", query_param="code") == (headers, query)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_key_sends_nothing(scheme):
    for key in (None, ""):
        assert scheme_credentials(scheme, key, header_name="X-Gateway-Key", query_param="code") == ({}, {})


def test_the_endpoint_key_wins_unless_the_key_is_the_user_own():
    preset = {"style": "azure", "target_uri": "https://res.example.com", "auth_scheme": "api_key_header",
              "api_key": KEY, "endpoints": [{"name": "a", "api_key": "sk-endpoint-0002"}, {"name": "b"}]}
    settings = ConnectionSettings.from_preset(preset)
    own, shared = settings.endpoints
    assert endpoint_key(settings, own) == "sk-endpoint-0002"
    assert credentials(settings, shared) == ({"api-key": KEY}, {})
    mine = ConnectionSettings.from_preset(dict(preset, use_per_user_key=True, per_user_key="sk-mine-0003"))
    assert credentials(mine, mine.endpoints[0]) == ({"api-key": "sk-mine-0003"}, {})


def test_an_oauth2_token_goes_as_a_bearer_token_beside_the_presets_other_headers():
    preset = {"style": "openai", "base_url": "https://llm.corp.example.com/v1", "models": ["m"],
              "auth_scheme": "oauth2_client_credentials", "oauth2_token_url": "https://idp.corp.example.com/token",
              "oauth2_client_id": "dss-app", "oauth2_client_secret": "oauth-secret-0004", "organization": "org-5",
              "extra_headers": [{"from": "X-Team", "to": "data"}]}
    settings = ConnectionSettings.from_preset(preset)
    endpoint = settings.endpoint_for("m")
    headers = request_headers(settings, endpoint, "text/event-stream", token="tok-0005")
    assert headers == {"Accept": "text/event-stream", "OpenAI-Organization": "org-5", "X-Team": "data",
                       "Authorization": "Bearer tok-0005"}
    # the key schemes, without a token, put the key where the scheme says and no Authorization otherwise
    keyed = ConnectionSettings.from_preset(dict(preset, auth_scheme="custom_header", auth_header_name="X-Key",
                                                api_key=KEY))
    assert request_headers(keyed, endpoint) == {"Accept": "application/json", "OpenAI-Organization": "org-5",
                                                "X-Team": "data", "X-Key": KEY}
