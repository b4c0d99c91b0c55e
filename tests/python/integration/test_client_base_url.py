"""A base_url without the /v1 its server answers under: the client's errors say which base_url to set."""
from __future__ import annotations

import pytest
from openai_compatible import Client, InvalidResponseError, UnknownModelError


def test_a_404_names_the_versioned_base_url(fault_server):
    client = Client.from_preset({"base_url": fault_server.target_uri, "models": ["fault-chat"],
                                 "auth_scheme": "none", "max_retries": 0})
    with client, pytest.raises(UnknownModelError) as caught:
        client.chat([{"role": "user", "content": "hi"}], model="fault-chat")
    assert f"set 'base_url' to '{fault_server.url}'" in str(caught.value)
    probes = [r for r in fault_server.requests if r.path == "/v1/models"]
    with pytest.raises(UnknownModelError):  # the probe is made once per connection
        client.chat([{"role": "user", "content": "hi"}], model="fault-chat")
    assert len([r for r in fault_server.requests if r.path == "/v1/models"]) == len(probes) == 1


def test_a_404_with_v1_in_the_url_sends_no_probe(fault_server):
    client = Client.from_preset({"base_url": fault_server.url + "/extra", "models": ["fault-chat"],
                                 "auth_scheme": "none", "max_retries": 0})
    with client, pytest.raises(UnknownModelError) as caught:
        client.chat([{"role": "user", "content": "hi"}], model="fault-chat")
    assert "set 'base_url'" not in str(caught.value)  # /v1/extra/v1/models lists nothing


def test_llama_embeddings_without_v1_name_the_versioned_base_url(llama_server):
    client = Client.from_preset({"base_url": llama_server.target_uri, "models": [llama_server.model],
                                 "auth_scheme": "none", "max_retries": 0})
    with client, pytest.raises(InvalidResponseError) as caught:
        client.embed(["one text", "another"], model=llama_server.model)
    assert f"set 'base_url' to '{llama_server.base_url}'" in str(caught.value)
