"""The one error type of the parent side: a usage or configuration problem DSS would refuse to run."""

from __future__ import annotations


class ConfigError(Exception):
    """Bad descriptor, config, preset or role mapping. The CLI prints it and exits with status 2."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message if problems is None else message + "\n" + "\n".join(f"  - {p}" for p in problems))


EXIT_OK = 0
EXIT_COMPONENT_FAILED = 1
EXIT_CONFIG_ERROR = 2
