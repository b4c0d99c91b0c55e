"""The LLM Mesh side of the plugin: a connection preset as a chat or embedding model of the Mesh.

DSS (14.1 and later) hands a ``python-llms`` component an LLM Mesh query and settings (the dicts that
``dataikuapi`` sends to ``/llms/completions``); this module turns them into OpenAI chat requests and
turns the answers back into what the Mesh expects. The components' ``llm.py`` files only forward to
:class:`MeshChatModel` and :class:`MeshEmbeddingModel`; nothing here imports ``dataiku``.
"""
from .chat import MeshChatModel
from .embedding import MeshEmbeddingModel, error_summary
from .queries import mesh_cost, mesh_log_probs, mesh_messages, mesh_options, mesh_tool_calls, mesh_usage

__all__ = ["MeshChatModel", "MeshEmbeddingModel", "error_summary", "mesh_cost", "mesh_log_probs", "mesh_messages",
           "mesh_options", "mesh_tool_calls", "mesh_usage"]
