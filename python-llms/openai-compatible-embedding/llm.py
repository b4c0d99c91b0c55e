"""LLM Mesh text embedding model backed by an OpenAI-compatible connection (DSS 14.1.1 and later)."""
try:
    from dataiku.llm.python import BaseEmbeddingModel
except ImportError:
    try:  # the module path a third-party Mesh plugin uses; no Dataiku source shows where 14.x keeps it
        from dataiku.llm.python.custom.base_embedding_model import BaseEmbeddingModel
    except ImportError:
        raise ImportError("The OpenAI-compatible embedding model needs DSS 14.1.1 or later: this DSS has no "
                          "BaseEmbeddingModel for Python LLM plugins.") from None

from openai_compatible.dss import client_for
from openai_compatible.mesh import MeshEmbeddingModel


class OpenAICompatibleEmbedding(BaseEmbeddingModel):
    """Forwards Mesh embedding queries to the connection's model."""

    def set_config(self, config, plugin_config):
        self.model = MeshEmbeddingModel(client_for(config), config.get("model"))

    def process(self, query, settings, trace):
        return self.model.process(query, settings, trace)
