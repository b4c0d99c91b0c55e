"""LLM Mesh chat model backed by an OpenAI-compatible connection (DSS 14.1.1 and later)."""
try:
    from dataiku.llm.python import BaseLLM
except ImportError:
    raise ImportError("The OpenAI-compatible chat model needs DSS 14.1.1 or later (Python LLM plugins arrived in "
                      "14.1.0; their use in the LLM recipes was fixed in 14.1.1).") from None
from openai_compatible.dss import client_for
from openai_compatible.mesh import MeshChatModel


class OpenAICompatibleChat(BaseLLM):
    """Forwards Mesh completion queries to the connection's model."""

    def set_config(self, config, plugin_config):
        self.model = MeshChatModel(client_for(config), config.get("model"),
                                   reasoning_effort=config.get("reasoning_effort"))

    def process(self, query, settings, trace):
        return self.model.process(query, settings, trace)

    def process_stream(self, query, settings, trace):
        yield from self.model.process_stream(query, settings, trace)
