"""Error normalisation: every body shape of reference §1.10 becomes the right exception, with the provider's words."""

import json

import pytest
from openai_compatible.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidResponseError,
    OpenAICompatibleError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    SettingsError,
    UnknownModelError,
    blamed_parameter,
    error_from_response,
    parse_error_body,
    plain_text,
    wrong_route_hint,
)
from openai_compatible.http.send import error_in_answer
from openai_compatible.retry import RetryPolicy


def build(status, body, headers=None, **kwargs):
    text = body if isinstance(body, str) else json.dumps(body)
    return error_from_response(status, text, headers or {}, **kwargs)


# --- each row of the observed-shapes table --------------------------------------------------------------

def test_openai_unsupported_parameter():
    body = {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                                 "'max_completion_tokens' instead.", "type": "invalid_request_error",
                      "param": "max_tokens", "code": "unsupported_parameter"}}
    error = build(400, body)
    assert type(error) is BadRequestError
    assert error.param == "max_tokens"
    assert error.code == "unsupported_parameter"
    assert error.error_type == "invalid_request_error"
    assert error.provider_message.startswith("Unsupported parameter: 'max_tokens'")
    assert "Unsupported parameter: 'max_tokens'" in str(error)
    assert error.status == 400


def test_azure_content_filter():
    body = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                                 "management policy.", "type": None, "param": "prompt", "code": "content_filter",
                      "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation",
                                                    "content_filter_result": {"hate": {"filtered": True,
                                                                                       "severity": "high"}}}}}
    error = build(400, body)
    assert isinstance(error, ContentFilterError)
    assert isinstance(error, BadRequestError)
    assert error.code == "content_filter"
    assert "filtered" in error.provider_message
    assert not error.retryable


def test_gemini_compat_array():
    body = [{"error": {"code": 400, "message": 'Invalid JSON payload received. Unknown name "reasoning": '
                                               "Cannot find field.", "status": "INVALID_ARGUMENT",
                       "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest"}]}}]
    error = build(400, body)
    assert type(error) is BadRequestError
    assert error.param == "reasoning"
    assert error.error_type == "INVALID_ARGUMENT"
    assert "Unknown name" in error.provider_message


def test_gemini_429_with_retry_info():
    body = {"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing "
                                              "details.", "status": "RESOURCE_EXHAUSTED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}]}}
    error = build(429, body)
    # a per-minute limit that says when to come back: rate limited, retried after the body's hint
    assert type(error) is RateLimitError
    assert error.retryable
    assert error.retry_after == 26.0


def test_gemini_retry_info_is_found_among_other_details():
    body = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED",
                      "details": ["free text",
                                  {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "retryDelay": "5s"},
                                  {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}]}}
    error = build(429, body)
    assert type(error) is RateLimitError
    assert error.retry_after == 26.0


def test_gemini_429_daily_quota_without_retry_info():
    body = {"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing "
                                              "details.", "status": "RESOURCE_EXHAUSTED"}}
    error = build(429, body)
    assert isinstance(error, QuotaExceededError)
    assert not error.retryable


def test_vllm_unwrapped_error():
    body = {"object": "error", "message": "[{'type': 'extra_forbidden', 'loc': ('body', 'max_completion_tokens'), "
                                          "'msg': 'Extra inputs are not permitted', 'input': 64}]",
            "type": "BadRequestError", "param": None, "code": 400}
    error = build(400, body)
    assert type(error) is BadRequestError
    assert error.param == "max_completion_tokens"
    assert "extra_forbidden" in error.provider_message
    assert error.error_type == "BadRequestError"


def test_mistral_message_object():
    body = {"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "seed"],
                                                       "msg": "Extra inputs are not permitted", "input": 1}]},
            "type": "invalid_request_error", "param": None, "code": None}
    error = build(422, body)
    assert type(error) is BadRequestError
    assert error.status == 422
    assert error.param == "seed"
    assert isinstance(error.provider_message, str)
    assert "Extra inputs are not permitted" in error.provider_message


def test_mistral_newer_variant_with_detail_and_numeric_code():
    body = {"object": "error", "message": "Invalid request", "type": "invalid_request_error", "param": None,
            "code": 3001, "detail": [{"type": "extra_forbidden", "loc": ["body", "max_completion_tokens"]}]}
    error = build(422, body)
    assert type(error) is BadRequestError
    assert error.code == "3001"
    assert error.provider_message == "Invalid request"
    assert error.param == "max_completion_tokens"


def test_tgi_string_error():
    body = {"error": "Template error: template not found", "error_type": "template_error"}
    error = build(422, body)
    assert type(error) is BadRequestError
    assert error.provider_message == "Template error: template not found"
    assert error.error_type == "template_error"


def test_deepseek_plain_text_422():
    text = "Failed to deserialize the JSON body into the target type: messages[0].role: unknown variant " \
           "`developer`, expected one of `system`, `user`, `assistant`, `tool` at line 1 column 40"
    error = build(422, text)
    assert type(error) is BadRequestError
    assert error.provider_message.startswith("Failed to deserialize the JSON body")
    assert "developer" in error.provider_message


def test_perplexity_integer_code():
    body = {"error": {"message": "After the (optional) system message(s), user and assistant roles should be "
                                 "alternating.", "type": "invalid_message", "code": 400}}
    error = build(400, body)
    assert type(error) is BadRequestError
    assert error.code == "400"
    assert error.error_type == "invalid_message"
    assert "alternating" in error.provider_message


def test_together_credit_limit_rate_limit():
    body = {"error": {"message": "You have been rate limited. Your rate limit is 60 queries per minute.",
                      "type": "credit_limit", "param": None, "code": None}}
    error = build(429, body, {"Retry-After": "3"})
    assert type(error) is RateLimitError
    assert error.retryable
    assert error.error_type == "credit_limit"


def test_fastapi_detail():
    body = {"detail": "Unsupported model anthropic.claude-x, please use models API to get a list of supported models."}
    error = build(400, body)
    assert isinstance(error, UnknownModelError)
    assert error.provider_message.startswith("Unsupported model")


def test_fastapi_detail_on_401():
    error = build(401, {"detail": "Invalid API Key"})
    assert isinstance(error, AuthenticationError)
    assert error.provider_message == "Invalid API Key"
    assert "API key" in str(error)  # the hint says what to check


def test_cloudflare_errors_list():
    body = {"result": None, "success": False, "errors": [{"code": 7003, "message": "Could not route to /x, "
                                                                                    "perhaps your object identifier "
                                                                                    "is invalid?"}], "messages": []}
    error = build(400, body)
    assert type(error) is BadRequestError
    assert error.provider_message.startswith("Could not route to")
    assert error.code == "7003"


def test_azure_apim_status_code():
    body = {"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include "
                                          "subscription key when making requests to an API."}
    error = build(401, body)
    assert isinstance(error, AuthenticationError)
    assert error.provider_message.startswith("Access denied due to missing subscription key")


def test_litellm_proxy_error():
    body = {"error": {"message": "litellm.BadRequestError: OpenAIException - temperature must be <= 2",
                      "type": None, "param": None, "code": "400",
                      "provider_specific_fields": {"innererror": {"code": "x"}}}}
    error = build(400, body)
    assert type(error) is BadRequestError
    assert error.code == "400"
    assert "temperature must be <= 2" in error.provider_message


NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""

STYLED_502 = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Error 502 | Bad gateway</title>
<style>body{font-family:-apple-system,BlinkMacSystemFont,sans-serif;margin:0} .cf-error{color:#404040}</style>
<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>
</head><body><div class="cf-error"><h1>Bad gateway</h1><p>The web server reported a bad gateway error.</p>
""" + "<p>padding</p>" * 200 + "</div></body></html>"


@pytest.mark.parametrize("page", [NGINX_502, STYLED_502])
def test_html_error_page_becomes_short_text(page):
    error = build(502, page, {"Content-Type": "text/html"})
    assert isinstance(error, ServerError)
    assert error.retryable
    for text in (error.provider_message, str(error)):
        assert "<" not in text and ">" not in text
        assert "{" not in text  # no CSS or script
        assert len(text) <= 400
    assert "Bad" in error.provider_message and "502" in str(error)


def test_an_html_page_whose_body_does_not_repeat_its_title_keeps_the_title_first():
    page = ("<HTML><HEAD><TITLE>503 Service\n  Unavailable</TITLE></HEAD>"
            "<BODY><P>The upstream did not answer &amp; will retry</P></BODY></HTML>")
    assert plain_text(page) == "503 Service Unavailable: The upstream did not answer & will retry"
    assert plain_text("<html><head><title>Maintenance &amp; upgrade</title></head><body></body></html>") == (
        "Maintenance & upgrade")


def test_an_html_page_is_not_prefixed_with_a_title_it_already_starts_with_or_lacks():
    page = "<html><head><title>\n  502   Bad\n Gateway\n</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    assert plain_text(page) == "502 Bad Gateway"
    assert plain_text("<div><p>Upstream timed out</p></div>") == "Upstream timed out"
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502\n   Bad  Gateway</h1></body></html>"
    assert plain_text(page) == "502 Bad Gateway"


def test_html_comments_and_escaped_angle_brackets_leave_no_trace():
    page = "<html><body><p>Busy</p><!-- node 7: queue > 90%\n retry later --><p>try again</p></body></html>"
    assert plain_text(page) == "Busy try again"
    assert plain_text("<p>the &lt;think&gt; tag is not allowed</p>") == "the think tag is not allowed"


def test_plain_text_with_a_comparison_sign_is_not_taken_for_html():
    assert plain_text("n must be > 0") == "n must be > 0"
    assert plain_text("max_tokens must be <= 4096") == "max_tokens must be <= 4096"


def test_plain_text_is_cut_to_the_limit_with_an_ellipsis():
    assert plain_text("x" * 240) == "x" * 240
    cut = plain_text("y" * 241)
    assert cut == "y" * 237 + "..." and len(cut) == 240
    assert plain_text("a  b\n\tc" + " z" * 10, limit=12) == "a b c z z..."
    assert plain_text("x" * 236 + " and more words") == "x" * 236 + "..."  # no space before the ellipsis
    assert plain_text("   ") is None


# --- statuses -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "cls", "retryable"), [
    (400, BadRequestError, False),
    (401, AuthenticationError, False),
    (403, PermissionDeniedError, False),
    (404, UnknownModelError, False),
    (408, ServerError, True),
    (409, ServerError, True),
    (422, BadRequestError, False),
    (429, RateLimitError, True),
    (500, ServerError, True),
    (502, ServerError, True),
    (503, ServerError, True),
    (504, ServerError, True),
])
def test_status_mapping(status, cls, retryable):
    error = build(status, {"error": {"message": "something happened"}})
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.status == status
    assert f"HTTP {status}" in str(error)
    assert "something happened" in str(error)


def test_insufficient_quota_is_not_retryable():
    body = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                      "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    error = build(429, body, {"retry-after": "1"})
    assert isinstance(error, QuotaExceededError)
    assert isinstance(error, RateLimitError)
    assert not error.retryable


@pytest.mark.parametrize("body", [
    {"error": {"message": "This model's maximum context length is 4097 tokens. However, your messages resulted in "
                          "5000 tokens.", "type": "invalid_request_error", "param": "messages",
               "code": "context_length_exceeded"}},
    {"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it",
               "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096}},
    {"error": {"message": "litellm.ContextWindowExceededError: litellm.BadRequestError: prompt too long",
               "type": None, "param": None, "code": "400"}},
])
def test_context_length_shapes(body):
    error = build(400, body)
    assert isinstance(error, ContextLengthError)
    assert isinstance(error, BadRequestError)
    assert not error.retryable


@pytest.mark.parametrize("body", [
    {"error": {"message": "The model `gpt-9` does not exist or you do not have access to it.",
               "type": "invalid_request_error", "param": None, "code": "model_not_found"}},
    {"error": {"message": "litellm.BadRequestError: Invalid model name passed in model=nope. Call `/v1/models` to "
                          "view available models for your key.", "type": "invalid_request_error", "param": "model",
               "code": "400"}},
    {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}},
])
def test_unknown_model_shapes(body):
    error = build(400, body)
    assert isinstance(error, UnknownModelError)


def test_request_id_is_kept():
    error = build(500, {"error": {"message": "boom"}}, {"x-request-id": "req_123"})
    assert error.request_id == "req_123"
    error = build(500, {"error": {"message": "boom"}}, {"apim-request-id": "apim-9"})
    assert error.request_id == "apim-9"


def test_empty_body():
    error = build(503, "")
    assert isinstance(error, ServerError)
    assert "HTTP 503" in error.provider_message


def test_body_is_kept_truncated_and_redacted():
    secret = "sk-error-secret-0001"
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}.", "padding": "x" * 5000}})
    error = error_from_response(401, body, {}, redact=lambda t: str(t).replace(secret, "***"))
    assert secret not in str(error) and secret not in repr(error)
    assert secret not in error.body and secret not in error.provider_message
    assert "Incorrect API key provided: ***" in error.provider_message
    assert len(error.body) <= 2000


def test_where_prefix():
    error = build(400, {"error": {"message": "bad"}}, where="chat with 'm'")
    assert str(error).startswith("chat with 'm': HTTP 400")
    assert str(build(400, {"error": {"message": "bad"}})).startswith("HTTP 400")  # no prefix by default


# --- helpers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("info", "param"), [
    ({"param": "max_tokens", "message": ""}, "max_tokens"),
    ({"param": "tools[0].function", "message": ""}, "tools"),
    ({"param": "response_format.json_schema.strict", "message": ""}, "response_format"),
    ({"param": "messages", "message": "too long"}, None),
    ({"param": "prompt", "message": "too long"}, None),
    ({"param": None, "message": "Unrecognized request argument supplied: seed"}, "seed"),
    ({"param": None, "message": "property 'store' is unsupported"}, "store"),
    ({"param": None, "message": "unknown field `logprobs`, expected one of"}, "logprobs"),
    ({"param": None, "message": "[{'type': 'extra_forbidden', 'loc': ('body', 'seed')}]"}, "seed"),
    ({"param": None, "message": 'Invalid JSON payload received. Unknown name \\"seed\\"'}, "seed"),
    ({"param": None, "message": "Something else went wrong"}, None),
])
def test_blamed_parameter(info, param):
    assert blamed_parameter(info) == param


def test_parse_error_body_of_plain_text_and_garbage():
    assert parse_error_body("Service Unavailable")["message"] == "Service Unavailable"
    assert parse_error_body("")["message"] is None
    assert parse_error_body("[]")["message"] is None
    assert parse_error_body('"just a string"')["message"] == "just a string"
    assert parse_error_body("42")["message"] is None


def test_exception_hierarchy_and_kinds():
    for cls in (SettingsError, AuthenticationError, PermissionDeniedError, UnknownModelError, BadRequestError,
                ContextLengthError, ContentFilterError, RateLimitError, QuotaExceededError, ServerError,
                APITimeoutError, APIConnectionError, InvalidResponseError):
        assert issubclass(cls, OpenAICompatibleError)
    kinds = [cls.kind for cls in (SettingsError, AuthenticationError, PermissionDeniedError, UnknownModelError,
                                  BadRequestError, ContextLengthError, ContentFilterError, RateLimitError,
                                  QuotaExceededError, ServerError, APITimeoutError, APIConnectionError,
                                  InvalidResponseError)]
    assert len(set(kinds)) == len(kinds)
    assert {cls for cls in (RateLimitError, ServerError, APITimeoutError, APIConnectionError, InvalidResponseError)
            if cls.retryable} == {RateLimitError, ServerError, APITimeoutError, APIConnectionError,
                                  InvalidResponseError}


def test_a_timeout_is_a_connection_error_with_its_own_kind():
    """As in the openai SDK and requests: ``except APIConnectionError`` also catches timeouts."""
    assert issubclass(APITimeoutError, APIConnectionError)
    error = APITimeoutError("no answer within the read timeout")
    assert isinstance(error, APIConnectionError) and error.kind == "timeout" and error.retryable


def test_a_structured_message_keeps_its_non_ascii_text():
    body = json.dumps({"error": {"message": {"détail": "modèle « x » inconnu"}}}, ensure_ascii=False)
    assert "modèle « x » inconnu" in parse_error_body(body)["message"]


def test_repr_names_the_error_class():
    error = build(429, {"error": {"message": "slow down"}})
    assert repr(error).startswith("RateLimitError(") and repr(error).endswith(", status=429)")


def test_a_plain_message_that_compares_keeps_its_signs():
    """Only a body with HTML tags is read as a page: a provider's plain-text '> 0 and <= 2' stays as written."""
    from openai_compatible.errors import plain_text

    assert plain_text("temperature must be > 0 and <= 2") == "temperature must be > 0 and <= 2"
    assert plain_text("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>").startswith(
        "502 Bad Gateway")
    assert plain_text("<!-- cut --><p>Service <b>down</b></p>") == "Service down"


def test_a_403_says_the_key_is_valid_but_not_allowed():
    error = error_from_response(403, json.dumps({"error": {"message": "Forbidden"}}), {})
    assert str(error) == ("HTTP 403 permission: Forbidden. The key is valid but not allowed to use this model "
                          "or endpoint.")


def test_a_plain_bad_request_gets_no_hint():
    error = error_from_response(400, json.dumps({"error": {"message": "temperature must be <= 2"}}), {})
    assert str(error) == "HTTP 400 bad_request: temperature must be <= 2."


def test_a_404_naming_no_model_points_at_the_url_first():
    error = build(404, {"error": {"message": "Not Found"}})
    assert str(error).endswith(" The URL was not found: check the preset's base_url (it usually ends in /v1; in Azure "
                               "style, the target URI and the deployment name), then the model ID.")


def test_an_error_nested_in_an_error_is_read_at_the_first_level_with_a_message():
    body = {"error": {"message": "outer words", "error": {"message": "inner words"}}}
    assert parse_error_body(json.dumps(body))["message"] == "outer words"
    assert parse_error_body(json.dumps({"error": {"error": {"message": "inner words"}}}))["message"] == "inner words"


def test_an_azure_inner_error_code_is_the_code_when_the_error_has_none():
    body = {"error": {"message": "filtered", "innererror": {"code": "ResponsibleAIPolicyViolation"}}}
    assert parse_error_body(json.dumps(body))["code"] == "ResponsibleAIPolicyViolation"
    body["error"]["code"] = "content_filter"
    assert parse_error_body(json.dumps(body))["code"] == "content_filter"


def test_an_error_list_is_read_only_when_the_error_has_no_message_of_its_own():
    body = {"error": {"message": "top words", "errors": [{"message": "first of the list", "code": "x"}]}}
    assert parse_error_body(json.dumps(body))["message"] == "top words"
    body["error"].pop("message")
    assert parse_error_body(json.dumps(body))["message"] == "first of the list"


def test_a_retry_delay_is_never_read_as_a_token_count():
    # the delay (400 s) must not complete "5000 tokens ... over the limit" into a context-length error
    body = {"error": {"status": "RESOURCE_EXHAUSTED", "message": "Request of 5000 tokens is over the limit",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "400s"}]}}
    error = build(429, body)
    assert type(error).__name__ == "RateLimitError" and error.retry_after == 400.0


@pytest.mark.parametrize("code", [429, "429", 503])
def test_a_numeric_code_is_not_read_as_the_limit_of_the_message(code):
    """Each field of the body is read on its own: "1000 tokens over the limit" followed by the code 429 does not
    state "1000 tokens, above 429" (it would then pass for a context-length error, never retried)."""
    body = {"error": {"message": "You sent 1000 tokens in a burst, over the limit", "code": code}}
    error = build(429, body)
    assert type(error) is RateLimitError and error.retryable


def test_a_context_length_code_beside_a_plain_message_is_still_recognised():
    body = {"error": {"message": "Bad request", "code": "context_length_exceeded", "type": "invalid_request_error"}}
    assert type(build(400, body)) is ContextLengthError


@pytest.mark.parametrize("provider_message", ["The model is overloaded.", "The model is overloaded"])
def test_a_message_ends_with_one_full_stop_whether_or_not_the_provider_wrote_it(provider_message):
    error = build(400, {"error": {"message": provider_message}})
    assert str(error) == "HTTP 400 bad_request: The model is overloaded."


@pytest.mark.parametrize("code", [600, 200, "not a status", None])
def test_an_error_object_in_a_success_answer_whose_code_is_no_error_status_is_an_invalid_answer(code):
    body = {"error": {"code": code, "message": "boom"}}
    error = error_in_answer(body, json.dumps(body), {}, str, "chat with 'm'")
    assert isinstance(error, InvalidResponseError) and error.status is None and not error.retryable
    assert str(error) == ("chat with 'm': an error object with HTTP 200: boom. A success status with an error body "
                          "usually means the URL is not the API's: check 'base_url' in the preset.")


@pytest.mark.parametrize("code, kind", [(599, ServerError), (503, ServerError), ("429", RateLimitError)])
def test_an_error_object_whose_code_is_an_error_status_is_that_error(code, kind):
    body = {"error": {"code": code, "message": "boom"}}
    error = error_in_answer(body, json.dumps(body), {}, str, "chat with 'm'")
    assert type(error) is kind and error.status == int(code)


@pytest.mark.parametrize("text, advice", [
    ("Cannot POST /v1/v1/chat/completions", "the base_url ends in /v1 and the path added another: remove one /v1 "
                                            "from 'base_url'"),
    ("Cannot POST /chat/completions", "the path lacks /v1: add /v1 at the end of 'base_url'"),
    ("Could not route to /client/v4/accounts/abc/ai/v1, perhaps your object identifier is invalid?",
     "check 'base_url' in the preset (it usually ends in /v1; for Cloudflare, the account id in the URL must be "
     "yours)"),
])
def test_the_wrong_route_advice_whole(text, advice):
    assert wrong_route_hint(text) == f"The provider has no API at this URL: {advice}."
    assert wrong_route_hint("The model is loading") == ""


def test_a_refused_key_says_how_it_was_sent_and_what_to_check():
    error = build(401, {"error": {"message": "Invalid key"}}, auth="(sent as Authorization: Bearer)")
    assert str(error) == ("HTTP 401 authentication: Invalid key. (sent as Authorization: Bearer) Check the API key (or "
                          "your per-user key) and the authentication scheme ('auth_scheme': the service may expect "
                          "another one).")


@pytest.mark.parametrize("body, message", [
    ({"error": {"error": "upstream said no"}}, "upstream said no"),  # a gateway wrapping the upstream's text
    ({"error": {"error": {"error": {"message": "deep"}}}}, "deep"),
    ({"error": "plain words"}, "plain words"),
])
def test_an_error_wrapped_by_gateways_keeps_the_upstream_words(body, message):
    assert parse_error_body(json.dumps(body))["message"] == message
    assert build(502, body).provider_message == message


@pytest.mark.parametrize("body, fields", [
    # the code and type beside the wrapped words, not inside them
    ({"error": {"error": "upstream said no", "code": 502, "type": "upstream_error"}},
     {"message": "upstream said no", "code": "502", "type": "upstream_error", "param": None}),
    ({"error": {"code": "bad_gateway", "param": "model", "error": {"message": "no route"}}},
     {"message": "no route", "code": "bad_gateway", "type": None, "param": "model"}),
    # the nearest wrapper's field first, and the nested error's own fields before any wrapper's
    ({"error": {"code": "outer", "error": {"code": "middle", "error": {"message": "deep"}}}},
     {"message": "deep", "code": "middle", "type": None, "param": None}),
    ({"error": {"code": "outer", "type": "gateway", "error": {"message": "deep", "code": "inner"}}},
     {"message": "deep", "code": "inner", "type": "gateway", "param": None}),
])
def test_a_wrapped_error_keeps_the_fields_its_wrappers_carry(body, fields):
    parsed = parse_error_body(json.dumps(body))
    assert {key: parsed[key] for key in fields} == fields


def test_an_error_object_without_an_error_key_is_read_from_the_answer_itself():
    # vLLM's error body ({"object": "error", "message", "code"}) inside a success answer: its own code decides
    body = {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", "code": 400}
    error = error_in_answer(body, json.dumps(body), {}, str, "stream with 'm'")
    assert type(error) is BadRequestError and error.status == 400
    assert error.provider_message == "max_tokens is too large"


def test_a_detail_beside_the_error_object_is_read_and_can_blame_a_field():
    body = {"error": {"message": "Bad request"}, "detail": "This model does not support parameter 'logprobs'"}
    assert parse_error_body(json.dumps(body))["detail"] == "This model does not support parameter 'logprobs'"
    error = build(400, body)
    assert type(error) is BadRequestError and error.param == "logprobs"


# --- each class's advice, in the whole message ------------------------------------------------------------------

@pytest.mark.parametrize("status, body, cls, message", [
    (429, {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                     "type": "insufficient_quota", "code": "insufficient_quota"}}, QuotaExceededError,
     "HTTP 429 quota_exhausted: You exceeded your current quota, please check your plan and billing details. The "
     "provider account's quota or credit is exhausted."),
    (402, {"error": {"message": "Insufficient Balance"}}, QuotaExceededError,
     "HTTP 402 quota_exhausted: Insufficient Balance. The provider account's quota or credit is exhausted."),
    (404, {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}, UnknownModelError,
     "HTTP 404 unknown_model: The model `gpt-9` does not exist. Check the model ID or deployment name in the "
     "preset."),
    (400, {"error": {"message": "Invalid model name passed in model=nope"}}, UnknownModelError,
     "HTTP 400 unknown_model: Invalid model name passed in model=nope. Check the model ID or deployment name in the "
     "preset."),
    (404, {"error": {"message": "Not Found"}}, UnknownModelError,
     "HTTP 404 unknown_model: Not Found. The URL was not found: check the preset's base_url (it usually ends in /v1; "
     "in Azure style, the target URI and the deployment name), then the model ID."),
    (400, {"error": {"message": "This model's maximum context length is 4097 tokens. However, you requested 5000 "
                                "tokens.", "code": "context_length_exceeded"}}, ContextLengthError,
     "HTTP 400 context_length: This model's maximum context length is 4097 tokens. However, you requested 5000 "
     "tokens. Shorten the input or lower the max output tokens."),
    (401, {"error": {"message": "Invalid key!"}}, AuthenticationError,
     "HTTP 401 authentication: Invalid key! Check the API key (or your per-user key) and the authentication scheme "
     "('auth_scheme': the service may expect another one)."),
])
def test_each_error_class_gives_its_advice_after_the_providers_words(status, body, cls, message):
    # the advice is what a user acts on: compared whole, with the full stop added only where the words lack one
    error = build(status, body)
    assert type(error) is cls
    assert str(error) == message
    assert str(build(status, body, where="chat with 'm'")) == f"chat with 'm': {message}"


@pytest.mark.parametrize("status, cls", [(502, ServerError), (404, UnknownModelError), (200, InvalidResponseError)])
def test_an_answer_saying_there_is_no_api_at_the_url_gives_that_advice_and_is_never_retried(status, cls):
    # Cloudflare's "Could not route" (anomalyco/opencode#18552), even with a status that is otherwise retried:
    # the same URL gets the same answer
    error = build(status, {"errors": [{"code": 7003, "message": "Could not route to /client/v4/accounts/abc/ai/v1"}],
                           "success": False})
    assert type(error) is cls
    assert str(error) == (f"HTTP {status} {cls.kind}: Could not route to /client/v4/accounts/abc/ai/v1. The provider "
                          "has no API at this URL: check 'base_url' in the preset (it usually ends in /v1; for "
                          "Cloudflare, the account id in the URL must be yours).")
    assert error.retryable is False
    assert not RetryPolicy(max_retries=5).should_retry(error, 0)


# --- a field that says nothing never hides the words beside or beneath it -------------------------------------

@pytest.mark.parametrize("body", [
    {"error": {"message": None, "error": {"message": "real text", "type": "x"}}},
    {"error": {"message": "", "error": {"message": "real text", "type": "x"}}},
    {"error": {"message": "  ", "code": 502, "error": {"message": "real text", "type": "x"}}},
    {"message": None, "error": {"message": "real text", "type": "x"}},
    {"error": {"message": None, "error": {"error": {"message": "real text", "type": "x"}}}},
    [{"error": {"message": None, "error": {"message": "real text", "type": "x"}}}],
])
def test_a_null_or_empty_message_does_not_stop_the_unwrapping(body):
    parsed = parse_error_body(json.dumps(body))
    assert (parsed["message"], parsed["type"]) == ("real text", "x")
    assert build(502, body).provider_message == "real text"


@pytest.mark.parametrize("body, message", [
    ({"error": {"message": None, "detail": "the detail's words"}}, "the detail's words"),
    ({"error": {"message": "", "errors": [{"message": "first of the list"}]}}, "first of the list"),
    ({"error": {"detail": None, "errors": [{"message": None}, {"message": "second of the list"}]}},
     "second of the list"),
    ({"error": "", "message": "beside an empty error"}, "beside an empty error"),
    ({"error": None, "message": "beside a null error"}, "beside a null error"),
    ({"error": {}, "detail": "beside an empty object"}, "beside an empty object"),
    ({"error": {"message": None}, "message": "outside the error"}, "outside the error"),
    ({"error": {"code": 500, "detail": "the wrapper's detail", "error": {"code": "inner"}}}, "the wrapper's detail"),
    ({"error": {"error": "", "message": "beside an empty nested error"}}, "beside an empty nested error"),
    # Spring Boot's error body (what Spring Cloud Gateway answers): "error" is the reason phrase, "message" the words
    # (spring-cloud/spring-cloud-gateway#820)
    ({"timestamp": "2026-01-01T00:00:00Z", "status": 504, "error": "Gateway Timeout",
      "message": "Response took longer than timeout: PT30S", "path": "/v1/chat/completions"},
     "Response took longer than timeout: PT30S"),
    ({"status": 504, "error": "Gateway Timeout", "message": None}, "Gateway Timeout"),
])
def test_a_field_that_says_nothing_gives_way_to_the_words_elsewhere(body, message):
    assert parse_error_body(json.dumps(body))["message"] == message


@pytest.mark.parametrize("body, fields", [
    # an empty field inside does not shadow the wrapper's (a gateway's "param": "" beside the upstream's error)
    ({"error": {"param": "temperature", "code": "bad", "error": {"message": "no", "param": "", "code": None}}},
     {"param": "temperature", "code": "bad", "type": None}),
    ({"error": {"message": "no", "type": "", "status": "INVALID_ARGUMENT"}}, {"type": "INVALID_ARGUMENT"}),
    # a numeric status is the HTTP status, not a type (Azure AI Foundry's 422 body: tests/providers azure_foundry)
    ({"error": {"code": "Invalid input", "status": 422, "message": "invalid input error"}},
     {"type": None, "code": "Invalid input"}),
])
def test_empty_or_numeric_fields_are_no_type_code_or_param(body, fields):
    parsed = parse_error_body(json.dumps(body))
    assert {key: parsed[key] for key in fields} == fields


@pytest.mark.parametrize("body, fields", [
    # a string "error" beside the message is kept as the type: its words still classify the error
    ({"error": "model_not_found", "message": "The model 'x' does not exist"},
     {"message": "The model 'x' does not exist", "type": "model_not_found"}),
    ({"status": 504, "error": "Gateway Timeout", "message": "Response took longer than timeout: PT30S",
      "type": "gateway"}, {"message": "Response took longer than timeout: PT30S", "type": "gateway"}),
])
def test_a_string_error_beside_a_message_becomes_the_type(body, fields):
    parsed = parse_error_body(json.dumps(body))
    assert {key: parsed[key] for key in fields} == fields


def test_a_google_error_is_read_alone_or_as_a_one_element_list_with_its_status_as_the_type():
    # the google.rpc.Status JSON mapping: https://cloud.google.com/apis/design/errors ("error": code, message,
    # status, details); Gemini's OpenAI layer sends it in a one-element list (google-gemini/gemini-cli#12823)
    error = {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}
    for body in ({"error": error}, [{"error": error}]):
        parsed = parse_error_body(json.dumps(body))
        assert (parsed["message"], parsed["type"], parsed["code"]) == (
            "Request contains an invalid argument.", "INVALID_ARGUMENT", "400")
        assert type(build(400, body)) is BadRequestError


@pytest.mark.parametrize("body, fields", [
    # a proxy puts Google's whole error, as JSON text, in its own message (Kilo-Org/kilocode#6476,
    # lbjlaq/Antigravity-Manager#1942): the inner words and status are the error's, the proxy's fill in
    ({"error": {"message": json.dumps({"error": {"code": 400, "message": "Request contains an invalid argument.",
                                                 "status": "INVALID_ARGUMENT"}}, indent=2),
                "code": 400, "status": "Bad Request"}},
     {"message": "Request contains an invalid argument.", "type": "INVALID_ARGUMENT", "code": "400"}),
    # a gateway re-wraps the engine's OpenAI-style body as its message text (vllm-project/aibrix#2594)
    ({"error": {"message": json.dumps({"error": {"message": "top_p must be in (0, 1], got 2.0.", "param": "top_p",
                                                 "type": "BadRequestError", "code": 400}}),
                "type": "invalid_request_error", "code": None, "param": None}},
     {"message": "top_p must be in (0, 1], got 2.0.", "type": "BadRequestError", "param": "top_p"}),
    # JSON text that is no error envelope stays the message
    ({"error": {"message": '{"temperature": 3}', "type": "invalid_request_error"}},
     {"message": '{"temperature": 3}', "type": "invalid_request_error"}),
])
def test_an_error_body_sent_as_the_text_of_a_message_is_read(body, fields):
    parsed = parse_error_body(json.dumps(body))
    assert {key: parsed[key] for key in fields} == fields


@pytest.mark.parametrize("body, kind", [
    # the status an error object in an answer or a stream event carries is read where its words are: beneath a
    # wrapper whose message is null, or whose own code is no HTTP status
    ({"error": {"message": None, "error": {"code": 429, "message": "Rate limit reached"}}}, RateLimitError),
    ({"error": {"code": "upstream_error", "error": {"code": 429, "message": "Rate limit reached"}}}, RateLimitError),
    ({"error": {"code": 429.0, "message": "Rate limit reached"}}, RateLimitError),
])
def test_an_error_object_in_an_answer_takes_its_status_from_the_unwrapped_error(body, kind):
    error = error_in_answer(body, json.dumps(body), {}, str, "stream with 'm' (in the stream)")
    assert type(error) is kind and error.retryable
