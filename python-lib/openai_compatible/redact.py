"""Keep secrets out of every text the plugin produces: messages, logs, reprs.

A :class:`Redactor` knows the secret values of one connection. Every exception message and log line
built by the client goes through it. A process-wide registry also feeds a logging filter installed on
``urllib3`` (whose DEBUG logs print request URLs, which carry the key with query-parameter auth).
"""
from __future__ import annotations

import logging
import re
import threading
import weakref
from typing import Iterable

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values are not worth masking and would mangle ordinary text

_registry_lock = threading.Lock()
_registry: weakref.WeakSet[Redactor] = weakref.WeakSet()


class Redactor:
    """Replaces known secret values (and their URL-encoded forms) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)
        with _registry_lock:
            _registry.add(self)

    def add(self, *secrets: str | None) -> None:
        """Registers more secret values (empty or very short values are ignored)."""
        from urllib.parse import quote, quote_plus

        changed = False
        for secret in secrets:
            if not secret or len(secret) < _MIN_SECRET_LEN:
                continue
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                if form not in self._secrets:
                    self._secrets.add(form)
                    changed = True
        if changed:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: object) -> str:
        """Returns ``str(text)`` with every secret masked."""
        out = str(text)
        if self._pattern is not None:
            out = self._pattern.sub(MASK, out)
        return out

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def redact_everywhere(text: str) -> str:
    """Masks the secrets of every live connection (for log records whose origin is unknown)."""
    with _registry_lock:
        redactors = list(_registry)
    for redactor in redactors:
        text = redactor(text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks known secrets in a record's rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        cleaned = redact_everywhere(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:  # a traceback can quote URLs too
            record.exc_text = redact_everywhere(_formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_everywhere(record.exc_text)
        return True


_filter = RedactingFilter()
_formatter = logging.Formatter()

# A filter on a logger only sees records logged to that very logger, so every logger of the HTTP stack
# (some print request URLs, which carry the key with query-parameter authentication) gets one.
HTTP_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.poolmanager", "urllib3.connection",
                "urllib3.response", "urllib3.util.retry", "urllib3.http2.connection", "urllib3.contrib.pyopenssl",
                "requests", "openai_compatible")


def install_log_filters(names: Iterable[str] = HTTP_LOGGERS) -> None:
    """Attaches the redacting filter to the loggers of the HTTP stack (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
