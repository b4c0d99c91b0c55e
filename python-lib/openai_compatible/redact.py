"""Keep secrets out of every text the plugin produces: messages, logs, reprs.

A :class:`Redactor` knows the secret values of one connection. Every exception message and log line
built by the client goes through it. It recognises a secret in every form that libraries put in their
exception texts and logs, not only verbatim: escaped by ``repr`` (``http.client`` shows a refused header
as ``b'Bearer sk-...\\n'``), by JSON, URL-encoded (query-parameter authentication), HTML-escaped, and
those escapes nested. A process-wide registry feeds a logging filter that :func:`install_log_filters`
puts on the handlers every record passes through, so masking does not depend on a logger's name.
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

# Characters every encoder leaves as they are (RFC 3986 unreserved): they only ever appear verbatim.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~")
_BACKSLASHES = r"\\+"  # one escape level is one backslash, a repr of a repr doubles it, and so on
# Python's named escapes (repr of str and bytes) and JSON's (RFC 8259 section 7)
_NAMED_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f", "\\": "\\", "'": "'", '"': '"', "/": "/"}
_HTML_ESCAPES = {"&": ("amp",), "<": ("lt",), ">": ("gt",), '"': ("quot",), "'": ("apos",)}


def _hex(value: int, digits: int) -> str:
    """``value`` as hexadecimal digits, matching either case (Python writes \\xe9, URL encoders %C3%A9)."""
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in f"{value:0{digits}x}")


def _char_pattern(char: str) -> str:
    """A regular expression matching ``char`` in any of the forms an encoder or a repr gives it."""
    if char in _PLAIN:
        return re.escape(char)
    code = ord(char)
    utf8 = char.encode("utf-8")
    forms = [re.escape(char)]
    escape = _BACKSLASHES
    if char in _NAMED_ESCAPES:
        forms.append(escape + re.escape(_NAMED_ESCAPES[char]))
    if code < 0x100:  # \xNN of str and latin-1 bytes reprs
        forms.append(escape + "x" + _hex(code, 2))
    if code < 0x10000:  # \uNNNN of str reprs and JSON
        forms.append(escape + "u" + _hex(code, 4))
    else:  # JSON writes a surrogate pair, Python \UNNNNNNNN
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(escape + "u" + _hex(high, 4) + escape + "u" + _hex(low, 4))
        forms.append(escape + "U" + _hex(code, 8))
    if len(utf8) > 1:  # a repr of the UTF-8 bytes
        forms.append("".join(escape + "x" + _hex(b, 2) for b in utf8))
    # URL encoding of the UTF-8 bytes (quote, quote_plus, urlencode), possibly encoded twice
    forms.append("".join("%(?:25)*" + _hex(b, 2) for b in utf8))
    if char == " ":
        forms.append(r"\+")
    if char in _HTML_ESCAPES:
        forms += ["&" + name + ";" for name in _HTML_ESCAPES[char]]
    if code >= 0x80 or char in _HTML_ESCAPES:  # numeric character references
        forms += [f"&#0*{code};", "&#[xX]0*" + _hex(code, 1) + ";"]
    return "(?:" + "|".join(dict.fromkeys(forms)) + ")"


def secret_pattern(secret: str) -> str:
    """A regular expression matching ``secret`` verbatim and in every escaped or encoded form (see the module)."""
    return "".join(_char_pattern(c) for c in secret)


class Redactor:
    """Replaces known secret values, in any form they take in a text (see the module), with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)
        with _registry_lock:
            _registry.add(self)

    def add(self, *secrets: str | None) -> None:
        """Registers more secret values (empty or very short values are ignored).

        A value with surrounding whitespace (a key pasted with its line break) is also known without it.
        """
        changed = False
        for secret in secrets:
            if not isinstance(secret, str):
                continue
            for form in {secret, secret.strip()}:
                if len(form) >= _MIN_SECRET_LEN and form not in self._secrets:
                    self._secrets.add(form)
                    changed = True
        if changed:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(secret_pattern(s) for s in ordered))

    def __call__(self, text: object) -> str:
        """Returns ``str(text)`` with every secret masked."""
        out = str(text)
        if self._pattern is not None:
            out = self._pattern.sub(MASK, out)
        return out

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def redact_everywhere(text: object) -> str:
    """``str(text)`` with the secrets of every live connection masked (for texts whose origin is unknown:
    log records, exception texts bound for an output column)."""
    out = str(text)
    with _registry_lock:
        redactors = list(_registry)
    for redactor in redactors:
        out = redactor(out)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that masks known secrets in a record's rendered message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is not ours to fix
            return True
        cleaned = redact_everywhere(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:  # a traceback can quote URLs and header values too
            record.exc_text = redact_everywhere(_formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_everywhere(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_everywhere(record.stack_info)
        return True


_filter = RedactingFilter()
_formatter = logging.Formatter()


# Loggers of the HTTP stack (some print request URLs, which carry the key with query-parameter
# authentication) and the plugin's own: they also get the filter themselves, so their records are masked
# even on a handler added after the last installation.
HTTP_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.poolmanager", "urllib3.connection",
                "urllib3.response", "urllib3.util.retry", "urllib3.http2.connection", "urllib3.contrib.pyopenssl",
                "requests", "openai_compatible")


def install_log_filters(names: Iterable[str] = HTTP_LOGGERS) -> None:
    """Puts the redacting filter where every record passes: on every handler of the logging tree (idempotent).

    A filter on a logger sees only the records logged to that very logger, not its children's (a module's
    ``getLogger(__name__)``), while every record that is written passes through a handler. So the filter
    goes on each handler (the root logger's, those of loggers with their own, and ``logging.lastResort``),
    and on the loggers ``names`` as well. The client calls this each time one is built, so handlers
    configured after the plugin loaded (DSS, a notebook's ``basicConfig``) get it too.
    """
    loggers = [logging.getLogger()] + [logger for logger in list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(logger, logging.Logger)]
    handlers = [handler for logger in loggers for handler in list(logger.handlers)]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
