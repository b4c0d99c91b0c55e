"""The LiteLLM proxy (a gateway in front of many providers, ``http://host:4000/v1``)."""
import base64
import struct
from typing import Sequence

from tests.providers.case import RETRIED, Case, Expect, chunk, completion, err, ok, stream_reply, usage
from tests.providers.replay import Reply


def b64_floats(values: Sequence[float]) -> str:
    """A vector as the API's base64 form: little-endian float32, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


CASES = [
    Case(
        name="litellm-context-window-exceeded",
        provider="LiteLLM proxy",
        # the proxy prefixes the exception class to the upstream message and sends the status as a string code
        source="BerriAI/litellm#16231; https://docs.litellm.ai/docs/exception_mapping",
        call="chat",
        replies=(err(400, {"error": {"message": "litellm.ContextWindowExceededError: litellm.BadRequestError: "
                                     "Request too large for the deployment. Received Model Group=gpt-4o",
                                     "type": None, "param": None, "code": "400"}}),),
        expect=Expect(error="ContextLengthError", calls=1),
    ),
    Case(
        name="litellm-rate-limited-with-retry-after",
        provider="LiteLLM proxy",
        source="https://docs.litellm.ai/docs/proxy/users (rpm/tpm limits answer 429)",
        call="chat",
        replies=(err(429, {"error": {"message": "litellm.RateLimitError: Max parallel request limit reached.",
                                     "type": "None", "param": "None", "code": "429"}},
                     headers=(("Retry-After", "1"),)),
                 ok(completion("Back again."))),
        expect=Expect(text="Back again.", calls=2),
    ),
    Case(
        name="litellm-embeddings-base64",
        provider="LiteLLM proxy",
        # vectors as base64 float32 strings, the format openai-python asks for by default and gateways relay
        source="openai/openai-python#1490; mem0ai/mem0#4057; huggingface/text-embeddings-inference#288",
        call="embed",
        options={"texts": ["a", "b"]},
        replies=(ok({"object": "list", "model": "text-embedding-3-small",
                     "data": [{"object": "embedding", "index": 0, "embedding": b64_floats([0.5, -1.0])},
                              {"object": "embedding", "index": 1, "embedding": b64_floats([2.0, 0.25])}],
                     "usage": {"prompt_tokens": 2, "total_tokens": 2}}),),
        expect=Expect(vectors=((0.5, -1.0), (2.0, 0.25)), calls=1),
    ),
    Case(
        name="litellm-stream-usage-after-finish",
        provider="LiteLLM proxy",
        source="https://docs.litellm.ai/docs/completion/usage (stream_options include_usage)",
        call="stream",
        replies=(stream_reply([chunk({"role": "assistant", "content": "Sure"}), chunk({"content": "."}),
                               chunk({}, "stop"), chunk(choices=False, usage=usage(6, 2))]),),
        expect=Expect(text="Sure.", finish_reason="stop", usage={"completion_tokens": 2}),
    ),
    Case(
        name="litellm-upstream-503",
        provider="LiteLLM proxy",
        source="https://docs.litellm.ai/docs/exception_mapping (ServiceUnavailableError -> 503)",
        call="chat",
        replies=(err(503, {"error": {"message": "litellm.ServiceUnavailableError: upstream is overloaded",
                                     "type": None, "param": None, "code": "503"}}),),
        expect=Expect(error="ServerError", calls=RETRIED),
    ),
    Case(
        name="litellm-behind-sso-redirect",
        provider="LiteLLM proxy (behind oauth2-proxy)",
        # an SSO front redirects the unauthenticated call to its sign-in page, which answers 200 with HTML
        source="etalab-ia/OpenGateLLM#844; https://oauth2-proxy.github.io/oauth2-proxy/ (redirect to sign-in)",
        call="chat",
        replies=(Reply(302, "", headers=(("Location", "/oauth2/sign_in?rd=%2Fv1%2Fchat%2Fcompletions"),)),
                 Reply(200, "<!DOCTYPE html><html><head><title>Sign In</title></head><body><form>"
                            "<button>Sign in with Microsoft</button></form></body></html>")),
        expect=Expect(error="OpenAICompatibleError", mentions=("base_url",), calls=2),
    ),
]
