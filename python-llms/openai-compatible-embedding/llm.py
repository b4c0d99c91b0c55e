"""LLM Mesh text embedding model backed by an OpenAI-compatible connection (DSS 14.1.1 and later)."""
from openai_compatible.dss import client_for
from openai_compatible.dss.mesh_base import mesh_base_class
from openai_compatible.mesh import MeshEmbeddingModel

# where the base class lives differs between DSS builds; on one without it, the error names the DSS version needed
BaseEmbeddingModel = mesh_base_class("BaseEmbeddingModel")


class OpenAICompatibleEmbedding(BaseEmbeddingModel):
    """Forwards Mesh embedding queries to the connection's model."""

    def set_config(self, config, plugin_config):
        self.model = MeshEmbeddingModel(client_for(config), config.get("model"))

    def process(self, query, settings, trace):
        return self.model.process(query, settings, trace)
