"""Redaction: secrets (and their URL-encoded forms) never survive into a message, a log record or a repr."""

import logging
from urllib.parse import quote, quote_plus, urlencode

import pytest
from openai_compatible import Client
from openai_compatible.redact import MASK, Redactor, install_log_filters, redact_everywhere

SECRET = "sk-SECRET-unit-redact/+= &?#%0001"


def test_plain_secret_is_masked():
    redact = Redactor([SECRET])
    assert redact(f"key is {SECRET}!") == f"key is {MASK}!"
    assert SECRET not in redact(f"{SECRET}{SECRET} and {SECRET}")


@pytest.mark.parametrize("encode", [lambda s: quote(s, safe=""), quote_plus, lambda s: urlencode({"key": s})[4:]])
def test_url_encoded_secret_is_masked(encode):
    encoded = encode(SECRET)
    assert encoded != SECRET  # the encoding really changes it
    text = f"GET /v1/chat/completions?api-version=1&key={encoded} HTTP/1.1"
    out = Redactor([SECRET])(text)
    assert encoded not in out and SECRET not in out
    assert out.startswith("GET /v1/chat/completions?api-version=1&key=")


def test_regex_metacharacters_in_secrets_are_literal():
    redact = Redactor(["a.b*c+d(e)"])
    assert redact("a.b*c+d(e)") == MASK
    assert redact("aXbbbcdde") == "aXbbbcdde"


def test_longest_secret_first():
    redact = Redactor(["abcd", "abcdefgh"])
    assert redact("abcdefgh") == MASK  # not "***efgh"


def test_short_and_empty_values_are_ignored():
    redact = Redactor(["", None, "abc"])  # type: ignore[list-item]
    assert redact("abc def") == "abc def"


def test_non_text_is_converted():
    redact = Redactor([SECRET])
    assert redact(ValueError(f"bad {SECRET}")) == f"bad {MASK}"
    assert redact(None) == "None"


def test_repr_never_shows_secrets():
    redact = Redactor([SECRET])
    assert SECRET not in repr(redact) and SECRET not in str(redact)


def test_added_later():
    redact = Redactor()
    assert redact(SECRET) == SECRET
    redact.add(SECRET)
    assert redact(SECRET) == MASK


def test_redact_everywhere_knows_every_live_connection():
    keep = [Redactor(["first-secret-0001"]), Redactor(["second-secret-0002"])]
    assert redact_everywhere("first-secret-0001 second-secret-0002") == f"{MASK} {MASK}"
    del keep


@pytest.mark.parametrize("logger_name", ["urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection",
                                         "urllib3.poolmanager", "urllib3.response", "requests", "openai_compatible"])
def test_log_records_of_the_http_stack_are_masked(logger_name, caplog):
    redact = Redactor([SECRET])
    install_log_filters()
    caplog.set_level(logging.DEBUG, logger=logger_name)  # an earlier test may have set this logger to INFO
    logger = logging.getLogger(logger_name)
    encoded = quote_plus(SECRET)
    logger.debug('%s://%s:%s "%s %s %s" %s %s', "http", "127.0.0.1", 80, "POST",
                 f"/v1/chat/completions?key={encoded}", "HTTP/1.1", 200, None)
    logger.warning(f"plain {SECRET}")
    try:
        raise ConnectionError(f"failed for /v1?key={encoded}")
    except ConnectionError:
        logger.exception("with a traceback")
    assert len(caplog.records) == 3
    text = caplog.text
    assert SECRET not in text and encoded not in text
    for record in caplog.records:
        assert SECRET not in record.getMessage() and encoded not in record.getMessage()
    assert "key=***" in text and "plain ***" in text
    assert "ConnectionError: failed for /v1?key=***" in text
    del redact


def test_client_redacts_every_secret_of_its_preset():
    preset = {
        "style": "azure", "target_uri": "https://res.example.com", "auth_scheme": "api_key_header",
        "api_key": "default-key-0001",
        "endpoints": [{"name": "a", "deployment": "a", "api_key": "endpoint-key-0002"}],
        "extra_headers": [{"from": "X-Gateway-Token", "to": "gateway-token-0003"}],
        "extra_query": [{"from": "sig", "to": "query-sig-0004"}],
        "proxy": "http://me:proxy-password-0005@proxy.example.com:3128",
    }
    client = Client.from_preset(preset)
    secrets = ["default-key-0001", "endpoint-key-0002", "gateway-token-0003", "query-sig-0004",
               "proxy-password-0005"]
    out = client._redact(" ".join(secrets))
    assert out == " ".join([MASK] * len(secrets))
