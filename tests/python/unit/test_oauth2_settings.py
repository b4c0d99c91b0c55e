"""The OAuth2 preset fields: what each scheme needs, what Entra ID fills in, and what a bad value says."""
from __future__ import annotations

import pytest
from openai_compatible.errors import SettingsError
from openai_compatible.oauth2 import ENTRA_SCOPE, OAuth2Settings, TokenProvider, renew_margin
from openai_compatible.settings import ConnectionSettings

SECRET = "client-secret-3c9f1a7d"


def preset(**fields):
    base = {"base_url": "https://llm-gateway.corp.example.com/v1", "models": ["m"],
            "auth_scheme": "oauth2_client_credentials", "oauth2_token_url": "https://idp.corp.example.com/token",
            "oauth2_client_id": "dss-app", "oauth2_client_secret": SECRET}
    base.update(fields)
    return base


def test_entra_id_fills_in_the_token_url_scope_and_body_authentication():
    settings = ConnectionSettings.from_preset({
        "style": "azure", "target_uri": "https://res.openai.azure.com", "endpoints": [{"name": "gpt"}],
        "auth_scheme": "entra_id", "entra_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "oauth2_client_id": "app-id", "oauth2_client_secret": SECRET,
        # hidden fields left over from another scheme must not leak in
        "oauth2_token_url": "https://elsewhere.example.com/token", "oauth2_scope": "other",
        "oauth2_client_auth": "basic",
    })
    oauth = settings.oauth2
    assert oauth.token_url == "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
    assert oauth.scope == ENTRA_SCOPE == "https://cognitiveservices.azure.com/.default"
    assert oauth.client_auth == "body"
    assert oauth.audience == ""


def test_entra_id_accepts_a_tenant_domain():
    settings = ConnectionSettings.from_preset(preset(auth_scheme="entra_id", entra_tenant_id="contoso.onmicrosoft.com"))
    assert settings.oauth2.token_url.startswith("https://login.microsoftonline.com/contoso.onmicrosoft.com/")


@pytest.mark.parametrize(("fields", "named"), [
    ({"auth_scheme": "entra_id"}, "entra_tenant_id"),
    ({"auth_scheme": "entra_id", "entra_tenant_id": "https://login.microsoftonline.com/x"}, "entra_tenant_id"),
    ({"oauth2_token_url": ""}, "oauth2_token_url"),
    ({"oauth2_token_url": "idp.corp/token"}, "oauth2_token_url"),
    ({"oauth2_token_url": "http://idp.corp.example.com/token"}, "oauth2_token_url"),
    ({"oauth2_client_id": " "}, "oauth2_client_id"),
    ({"oauth2_client_secret": ""}, "oauth2_client_secret"),
    ({"oauth2_client_auth": "header"}, "oauth2_client_auth"),
])
def test_a_missing_or_bad_field_is_named(fields, named):
    with pytest.raises(SettingsError) as info:
        ConnectionSettings.from_preset(preset(**fields))
    assert f"'{named}'" in str(info.value)
    assert SECRET not in str(info.value)


def test_plain_http_is_accepted_only_to_this_machine():
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/token"):
        assert ConnectionSettings.from_preset(preset(oauth2_token_url=url)).oauth2.token_url == url


def test_client_credentials_fields_are_read():
    oauth = ConnectionSettings.from_preset(preset(oauth2_scope=" llm.invoke,  llm.read ", oauth2_audience="api://gw",
                                                  oauth2_client_auth="body")).oauth2
    assert (oauth.scope, oauth.audience, oauth.client_auth) == ("llm.invoke llm.read", "api://gw", "body")
    assert ConnectionSettings.from_preset(preset()).oauth2.client_auth == "basic"  # RFC 6749 2.3.1's default


def test_keys_and_per_user_keys_are_not_used_with_oauth2():
    # a per-user key switched on before the scheme changed stays in the (hidden) preset field
    settings = ConnectionSettings.from_preset(preset(api_key="sk-old", use_per_user_key=True))
    assert settings.api_key is None and not settings.per_user_key


def test_the_client_secret_is_redacted_and_never_shown():
    settings = ConnectionSettings.from_preset(preset())
    assert SECRET in settings.secrets()
    assert SECRET not in repr(settings) and SECRET not in repr(settings.oauth2)
    assert SECRET not in repr(TokenProvider(settings.oauth2))


def test_other_schemes_have_no_oauth2_settings():
    assert ConnectionSettings.from_preset({"base_url": "http://h/v1", "models": ["m"], "api_key": "k"}).oauth2 is None


@pytest.mark.parametrize(("lifetime", "margin"), [(3600, 300), (600, 150), (60, 15), (6, 2), (3, 1.5)])
def test_tokens_are_renewed_well_before_they_expire(lifetime, margin):
    assert renew_margin(lifetime) == margin


def test_oauth2_settings_read_directly_name_the_scheme():
    with pytest.raises(SettingsError, match="Microsoft Entra ID"):
        OAuth2Settings.from_preset({"entra_tenant_id": "t"}, "entra_id")
