"""LLM Mesh text embedding model backed by an OpenAI-compatible connection (DSS 14.1 and later)."""
try:
    from dataiku.llm.python import BaseEmbeddingModel
except ImportError:  # older 14.x builds keep it here
    from dataiku.llm.python.custom.base_embedding_model import BaseEmbeddingModel

from openai_compatible.dss import client_for
from openai_compatible.mesh import MeshEmbeddingModel


class OpenAICompatibleEmbedding(BaseEmbeddingModel):
    """Forwards Mesh embedding queries to the connection's model."""

    def set_config(self, config, plugin_config):
        self.model = MeshEmbeddingModel(client_for(config), config.get("model"))

    def process(self, query, settings, trace):
        return self.model.process(query, settings, trace)
