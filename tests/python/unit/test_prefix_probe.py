"""The probe that tells whether a base_url lacks its server's /v1: what counts as the API's model list."""
from __future__ import annotations

import gzip
import json

import pytest
from openai_compatible import Client, ConnectionSettings, UnknownModelError
from openai_compatible.http.prefix import lists_models
from openai_compatible.http.transport import Transport

from tests.servers.fault_server import Fault

MODELS = {"object": "list", "data": [{"id": "m", "object": "model"}]}


def probe(server, path: str = "/v1/models") -> bool:
    settings = ConnectionSettings.from_preset({"base_url": server.target_uri, "models": ["m"],
                                              "auth_scheme": "none"})
    return lists_models(Transport(settings), settings, server.target_uri + path)


def test_a_model_list_sent_compressed_is_recognised(fault_server):
    fault_server.always(Fault.error(200, gzip.compress(json.dumps(MODELS).encode()), content_type="application/json",
                                    headers={"Content-Encoding": "gzip"}))
    assert probe(fault_server)


def test_a_redirect_is_not_followed(fault_server):
    # a gateway sending the probe elsewhere (a login page, another host) is no proof the API is at /v1
    fault_server.add_rule(Fault.error(302, None, headers={"Location": "/openai/v1/models"}),
                          when=lambda req: req.path == "/v1/models")
    assert probe(fault_server, "/openai/v1/models")  # where it points does list models
    assert not probe(fault_server)


def test_an_answer_larger_than_a_model_list_can_be_is_not_read_whole(fault_server):
    huge = dict(MODELS, padding="x" * (2 * 1024 * 1024))
    fault_server.always(Fault.error(200, huge))
    assert not probe(fault_server)


def test_an_error_from_a_base_url_without_v1_names_the_url_with_it(fault_server):
    with Client.from_preset({"base_url": fault_server.target_uri, "models": ["m"], "auth_scheme": "none",
                             "max_retries": 0}) as client:
        with pytest.raises(UnknownModelError) as caught:
            client.chat([{"role": "user", "content": "hi"}], model="m")
    assert f"set 'base_url' to '{fault_server.url}'" in str(caught.value)
    assert [r.path for r in fault_server.requests] == ["/chat/completions", "/v1/models"]


def test_an_error_from_a_base_url_with_v1_is_left_as_it_is_and_nothing_is_probed(fault_server):
    from openai_compatible import BadRequestError
    from openai_compatible.http.prefix import PrefixHint

    settings = ConnectionSettings.from_preset({"base_url": fault_server.url, "models": ["m"]})
    hint = PrefixHint(settings, Transport(settings))
    error = BadRequestError("chat with 'm': HTTP 404 Not Found.")
    assert hint.sentence() == "" and hint.amend(error) is error
    assert str(error) == "chat with 'm': HTTP 404 Not Found." and error.message == "chat with 'm': HTTP 404 Not Found."
    assert fault_server.requests == []
