"""The LLM Mesh base classes of the DSS that runs the plugin, or an error saying which DSS version the
``python-llms`` components need.

What is attested, and where:

- ``dataiku.llm.python.BaseLLM``: Dataiku's developer guide ("Creating a custom LLM Connection" tutorial,
  ``llm.py``; "Creating your code agent" in the agents concepts page).
- ``BaseEmbeddingModel``: no Dataiku doc or Dataiku plugin shows it. The only public use is the third-party
  plugin qsun-aidata/dss-ollama-mesh (``python-llms/ollama-mesh/llm.py``), which imports it from
  ``dataiku.llm.python`` and falls back to ``dataiku.llm.python.custom.base_embedding_model`` ("older DSS
  builds"). Both places are tried here; when neither has it, the error says so instead of a bare
  ImportError that would hide the component from the connection form.
- Versions: DSS 14.1.0 added "custom LLM connections can now be written in Python in plugins", and 14.1.1
  "Fixed Python custom LLM plugins in LLM recipes" (DSS release notes 14, versions 14.1.0 and 14.1.1).
"""
from __future__ import annotations

import importlib
from typing import Optional

MIN_DSS_VERSION = "14.1.1"

# class name -> the modules that may hold it, in order
_PLACES = {
    "BaseLLM": ("dataiku.llm.python",),
    "BaseEmbeddingModel": ("dataiku.llm.python", "dataiku.llm.python.custom.base_embedding_model"),
}


class MeshUnavailableError(ImportError):
    """This DSS has no base class for a ``python-llms`` component: the message names the DSS version needed."""


def mesh_base_class(name: str) -> type:
    """The class ``name`` (``BaseLLM`` or ``BaseEmbeddingModel``) of the running DSS's ``dataiku`` package.

    Raises :class:`MeshUnavailableError` (an ImportError) naming the DSS version the components need and
    what was missing, when no known place holds the class.
    """
    missing: list[str] = []
    python_llms: Optional[bool] = None
    for module_name in _PLACES[name]:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"no module {module_name}")
            if module_name == "dataiku.llm.python":
                python_llms = False
            continue
        if module_name == "dataiku.llm.python":
            python_llms = True
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
        missing.append(f"no {name} in {module_name}")
    if python_llms is False:
        why = ("this DSS has no LLM Mesh plugin support in Python (dataiku.llm.python arrived in DSS 14.1.0)")
    else:
        why = f"this DSS build offers no {name} to plugins ({'; '.join(missing)})"
    raise MeshUnavailableError(
        f"The OpenAI-compatible LLM Mesh components need DSS {MIN_DSS_VERSION} or later: {why}. Upgrade DSS, or "
        "use the plugin's recipes and notebook API, which work on any DSS version.")
