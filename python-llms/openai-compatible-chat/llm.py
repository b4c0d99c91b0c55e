"""LLM Mesh chat model backed by an OpenAI-compatible connection (DSS 14.1.1 and later)."""
from openai_compatible.dss import client_for
from openai_compatible.dss.mesh_base import mesh_base_class
from openai_compatible.mesh import MeshChatModel

BaseLLM = mesh_base_class("BaseLLM")  # fails with the DSS version needed on an older DSS


class OpenAICompatibleChat(BaseLLM):
    """Forwards Mesh completion queries to the connection's model."""

    def set_config(self, config, plugin_config):
        self.model = MeshChatModel(client_for(config), config.get("model"),
                                   reasoning_effort=config.get("reasoning_effort"))

    def process(self, query, settings, trace):
        return self.model.process(query, settings, trace)

    def process_stream(self, query, settings, trace):
        yield from self.model.process_stream(query, settings, trace)
