"""Use any OpenAI-compatible LLM service from Dataiku DSS: recipes, connectors, LLM Mesh and notebooks.

    from openai_compatible import Client
    client = Client.from_preset(preset)
    client.chat([{"role": "user", "content": "Hi"}], model="m").text

In a notebook, ``openai_compatible.connect("my-preset")`` looks a preset up through DSS, or goes through
the LLM Mesh when the user may not read presets.
"""
from .checks import CheckResult, run_checks
from .client import Client
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentFilterError,
    ContextLengthError,
    InvalidArgumentError,
    InvalidResponseError,
    OpenAICompatibleError,
    OutputValidationError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    SettingsError,
    UnknownModelError,
)
from .http.streaming import ChatStream
from .notebook import NotebookClient, connect, connect_mesh
from .reasoning import ReasoningBudgetError
from .results import ChatResult, EmbeddingResult, Usage
from .settings import ConnectionSettings, Endpoint
from .version import __version__

__all__ = [
    "APIConnectionError", "APITimeoutError", "AuthenticationError", "BadRequestError", "ChatResult",
    "ChatStream", "CheckResult", "Client", "ConnectionSettings", "ContentFilterError", "ContextLengthError",
    "EmbeddingResult", "Endpoint", "InvalidArgumentError", "InvalidResponseError", "OpenAICompatibleError",
    "OutputValidationError", "PermissionDeniedError", "QuotaExceededError", "RateLimitError", "ReasoningBudgetError",
    "ServerError", "SettingsError", "UnknownModelError", "Usage",
    "NotebookClient", "__version__", "connect", "connect_mesh", "run_checks",
]
