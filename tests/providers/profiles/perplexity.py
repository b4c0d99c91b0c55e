"""Perplexity (``https://api.perplexity.ai``, no /v1)."""
from tests.providers.case import Case, Expect, chunk, completion, err, ok, stream_reply, text_chunks, usage

DOCS = "https://docs.perplexity.ai/api-reference/chat-completions"

CASES = [
    Case(
        name="perplexity-role-alternation-400",
        provider="Perplexity",
        # an integer code inside the error object
        source="FoundationAgents/OpenManus#580; " + DOCS,
        call="chat",
        preset={"base_url_suffix": ""},
        replies=(err(400, {"error": {"message": "After the (optional) system message(s), user and assistant roles "
                                     "should be alternating.", "type": "invalid_message", "code": 400}}),),
        expect=Expect(error="BadRequestError", mentions=("alternating",), calls=1),
    ),
    Case(
        name="perplexity-citations-extra-fields",
        provider="Perplexity",
        # search results ride as extra top-level fields beside choices
        source=DOCS + " (citations, search_results)",
        call="chat",
        preset={"base_url_suffix": ""},
        replies=(ok(completion("The Eiffel Tower is 330 m tall [1].", usage=usage(9, 12, search_context_size="low"),
                               top={"citations": ["https://example.org/eiffel"],
                                    "search_results": [{"title": "Eiffel", "url": "https://example.org/eiffel"}]})),),
        expect=Expect(text="The Eiffel Tower is 330 m tall [1].", finish_reason="stop", calls=1),
    ),
    Case(
        name="perplexity-stream-answer",
        provider="Perplexity",
        source=DOCS + " (stream: true)",
        call="stream",
        preset={"base_url_suffix": ""},
        replies=(stream_reply(text_chunks("Sun", "ny") + [chunk({}, None, usage=usage(4, 2))]),),
        expect=Expect(text="Sunny", finish_reason="stop"),
    ),
]
