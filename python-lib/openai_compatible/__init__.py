"""Use any OpenAI-compatible LLM service from Dataiku DSS: recipes, connectors, LLM Mesh and notebooks.

    from openai_compatible import Client
    client = Client.from_preset(preset)
    client.chat([{"role": "user", "content": "Hi"}], model="m").text

In a notebook, ``openai_compatible.connect("my-preset")`` looks a preset up through DSS.
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
from .notebook import NotebookClient, connect
from .results import ChatResult, EmbeddingResult, Usage
from .settings import ConnectionSettings, Endpoint
from .version import __version__

__all__ = [
    "APIConnectionError", "APITimeoutError", "AuthenticationError", "BadRequestError", "ChatResult",
    "ChatStream", "CheckResult", "Client", "ConnectionSettings", "ContentFilterError", "ContextLengthError",
    "EmbeddingResult", "Endpoint", "InvalidResponseError", "OpenAICompatibleError", "OutputValidationError",
    "PermissionDeniedError", "QuotaExceededError", "RateLimitError", "ServerError", "SettingsError",
    "UnknownModelError", "Usage",
    "NotebookClient", "__version__", "connect", "run_checks",
]
