"""Redaction: secrets (and their URL-encoded forms) never survive into a message, a log record or a repr."""

import logging
from urllib.parse import quote, quote_plus, urlencode

import pytest
from openai_compatible import Client
from openai_compatible.redact import MASK, RedactingFilter, Redactor, install_log_filters, redact_everywhere

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


# --- every form a secret takes inside another library's text ---------------------------------------------------------

# secrets holding what changes form when quoted, escaped or encoded: both quotes, a backslash, non-ASCII (Latin-1, and
# beyond: euro sign, an emoji outside the BMP), +, /, =, %, a space and the trailing line break of a paste
TRICKY = [
    "sk-tricky'\"\\é/+=%0a-0001\n",
    "sk-quote'only/+=%-0002",
    'sk-dquote"only\\-0003',
    "k€y-😀-with space+0004",
    "sk-\ttab\x7fdel-0005",
]


def forms(secret):
    """The texts http.client, urllib3, requests, json and friends produce from a secret (whole or in a header)."""
    import html
    import json

    out = {
        "raw": secret,
        "repr": repr(secret),
        "ascii": ascii(secret),
        "repr of repr": repr(repr(secret)),
        "bytes utf-8": repr(secret.encode("utf-8")),
        "header bytes": repr(("Bearer " + secret).encode("utf-8")),
        "json": json.dumps(secret),
        "json non-ascii": json.dumps(secret, ensure_ascii=False),
        "json escaped slash": json.dumps(secret).replace("/", "\\/"),
        "json in repr": repr(json.dumps({"key": secret})),
        "quote": quote(secret, safe=""),
        "quote keeps /": quote(secret),
        "quote_plus": quote_plus(secret),
        "urlencode": urlencode({"key": secret}),
        "quoted twice": quote(quote(secret, safe=""), safe=""),
        "lower-case percent": quote(secret, safe="").lower(),
        "html": html.escape(secret),
        "stripped": secret.strip(),
    }
    try:
        out["bytes latin-1"] = repr(secret.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    return out


def visible_pieces(secret, text, size=6):
    """Fragments of the secret (its stripped form, plain) still readable in text."""
    core = secret.strip()
    return [core[i:i + size] for i in range(len(core) - size + 1) if core[i:i + size] in text]


@pytest.mark.parametrize("secret", TRICKY)
def test_every_form_of_a_tricky_secret_is_masked(secret):
    redact = Redactor([secret])
    for name, form in forms(secret).items():
        out = redact(f"Invalid header value {form} (more text)")
        assert MASK in out, (name, out)
        assert not visible_pieces(secret, out), (name, out)
        assert out.startswith("Invalid header value ") and out.endswith(" (more text)"), (name, out)


@pytest.mark.parametrize("secret", TRICKY)
def test_the_forms_really_differ(secret):
    # the test above would prove little if the encoders left these secrets unchanged
    assert len(set(forms(secret).values())) >= 8


def test_ordinary_text_around_escapes_is_left_alone():
    redact = Redactor(["sk-abc\n0001"])
    text = "line one\\nline two %0A and sk-abc 0001 and sk-abc"
    assert redact(text) == text


def library_errors(secret):
    """Exceptions real libraries raise with the secret inside (header value, URL), as they word them."""
    import http.client

    import requests
    import urllib3

    errors = []
    conn = http.client.HTTPConnection("127.0.0.1", 9)
    conn.putrequest("GET", "/")
    try:
        conn.putheader("Authorization", f"Bearer {secret}")
    except ValueError as exc:
        errors.append(exc)
    try:
        requests.Request("GET", "http://127.0.0.1:9/v1", headers={"X-Key": f" {secret}"}).prepare()
    except ValueError as exc:  # requests.exceptions.InvalidHeader
        errors.append(exc)
    try:
        urllib3.util.parse_url(f"http://127.0.0.1:9/v1?key={quote_plus(secret)}#{secret}\x00 bad port:x")
    except Exception as exc:  # urllib3's LocationParseError
        errors.append(exc)
    return errors


@pytest.mark.parametrize("secret", TRICKY)
def test_exceptions_of_the_http_libraries_are_masked(secret):
    redact = Redactor([secret])
    errors = library_errors(secret)
    assert errors, "no library refused the secret: the test would prove nothing"
    for exc in errors:
        assert visible_pieces(secret, str(exc) + repr(exc)), repr(exc)  # the library does quote it
        for text in (str(exc), repr(exc)):
            out = redact(text)
            assert not visible_pieces(secret, out), (type(exc).__name__, out)


def test_redact_everywhere_takes_any_object():
    keep = Redactor(["sk-anything-0009"])
    assert redact_everywhere(ValueError(b"sk-anything-0009")) == f"b'{MASK}'"
    del keep


# --- masking does not depend on the logger's name --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["openai_compatible.tasks.embed", "openai_compatible.x.y", __name__,
                                  "some_other_library", "urllib3.connectionpool.child"])
def test_records_of_any_logger_are_masked(name, caplog):
    secret = "sk-child-logger-secret\n"
    redact = Redactor([secret])
    caplog.set_level(logging.DEBUG)
    install_log_filters()
    logger = logging.getLogger(name)
    logger.propagate = True
    logger.warning("header %r refused", f"Bearer {secret}".encode())
    try:
        raise ValueError(f"Invalid header value {('Bearer ' + secret).encode()!r}")
    except ValueError:
        logger.exception("send failed")
    assert len(caplog.records) == 2
    assert "sk-child-logger-secret" not in caplog.text
    assert caplog.text.count(MASK) >= 2  # the warning's message and the traceback's exception line
    del redact


def test_a_handler_added_later_is_covered_at_the_next_installation():
    import io

    secret = "sk-late-handler-secret-0010"
    redact = Redactor([secret])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("late.module")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_filters()
        logger.error("key=%s", secret)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == f"key={MASK}\n"
    del redact


def test_a_record_whose_message_cannot_be_rendered_is_kept_for_logging_to_report():
    """A wrong format string is the caller's bug: the filter must not drop the record and hide it."""
    broken = logging.LogRecord("openai_compatible", logging.WARNING, __file__, 1, "%d rows", ("many",), None)
    assert RedactingFilter().filter(broken) is True
    assert broken.msg == "%d rows" and broken.args == ("many",)


def test_a_traceback_is_masked_when_the_only_handler_formats_it():
    import io

    secret = "sk-traceback-secret-0011"
    redact = Redactor([secret])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("traceback.only.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_filters()
        try:
            raise ValueError(f"Invalid header value {('Bearer ' + secret).encode()!r}")
        except ValueError:
            logger.exception("send failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith("send failed\nTraceback (most recent call last):")
    assert f"ValueError: Invalid header value b'Bearer {MASK}'" in text
    assert secret not in text
    del redact


def test_a_stack_trace_is_kept_and_masked():
    import io

    redact = Redactor(["sk-stack-secret-0012"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("stack.info.handler")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        install_log_filters()
        logger.error("slow call", stack_info=True, extra={"key": "sk-stack-secret-0012"})  # the source line is shown
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.startswith("slow call\nStack (most recent call last):")
    assert "test_a_stack_trace_is_kept_and_masked" in text
    assert f'extra={{"key": "{MASK}"}}' in text and "sk-stack-secret-0012" not in text
    del redact


def test_a_secret_inside_a_longer_one_never_breaks_the_longer_ones_mask():
    """Longer secrets are masked first whatever their alphabetical order: masking the short one first would
    cut the long one and leave its other parts in the clear."""
    short, long_ = "sk-zzzzzzzzzzzz", "sk-aaaaaaaa-sk-zzzzzzzzzzzz-tail"
    out = Redactor([short, long_])(f"key={long_}")
    assert out == f"key={MASK}" and "aaaaaaaa" not in out and "tail" not in out
