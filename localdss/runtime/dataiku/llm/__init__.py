"""`dataiku.llm`: LLM Mesh plugin base classes (see dataiku.llm.python) and tracing."""
