"""The client's transport layer, one job a module (the public face is :class:`openai_compatible.client.Client`).

- ``transport``: the TLS, CA bundle and proxy setup of a connection (one rule for every HTTP stack);
- ``auth``: where the API key goes for each authentication scheme;
- ``failures``: short, secret-free reasons for transport failures;
- ``send``: one HTTP exchange, its answer or its failure mapped to a result or an exception (no retries);
- ``retries``: the one retry loop, shared by plain calls and streams, and the per-call record it counts into;
- ``payloads``: request bodies; ``answers``: reading chat and embeddings answers;
- ``streaming``: the stream object and its accumulator; ``chat`` and ``embeddings``: the API calls;
- ``discovery``: the provider's model list; ``sdk``: the handoff to the official ``openai`` SDK.
"""
