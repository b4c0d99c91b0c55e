"""The connection test as a person reads it: a secret-free summary of the preset and an HTML report."""
from __future__ import annotations

import html
from typing import Optional, Sequence

from ..settings import ConnectionSettings, safe_url
from .result import CheckResult, summarize

_STATUS_STYLE = {"ok": ("#1e7e34", "#e6f4ea", "OK"), "warn": ("#8a6d00", "#fff6d6", "Warning"),
                 "fail": ("#b00020", "#fde7e9", "Failed"), "skipped": ("#555", "#f0f0f0", "Skipped")}
_CELL = "padding:4px 8px;border-bottom:1px solid #eee"


def describe_settings(settings: ConnectionSettings) -> list[tuple[str, str]]:
    """A secret-free summary of a connection, for reports: ``[(label, value), ...]``."""
    rows = [("Style", "OpenAI style (one URL, many models)" if settings.style == "openai"
             else "Azure style (one endpoint per model)")]
    if settings.style == "openai":
        rows.append(("URL", safe_url(settings.base_url)))
        rows.append(("Models", ", ".join(settings.models) or "(discovered)"))
    else:
        rows.append(("Endpoints", ", ".join(f"{e.name} ({e.kind}: {safe_url(e.base)})" for e in settings.endpoints)))
    auth = settings.auth_scheme + (" (per-user keys)" if settings.per_user_key else "")
    rows.append(("Authentication", auth))
    rows.append(("Compatibility", f"streaming={settings.streaming}, stream_usage={settings.stream_usage}, "
                                  f"max_tokens_field={settings.max_tokens_field}, system_role={settings.system_role}, "
                                  f"json_mode={settings.json_mode}"))
    return rows


def verdict(results: Sequence[CheckResult]) -> str:
    """One sentence on the whole test."""
    counts = summarize(results)
    if counts["fail"]:
        return "Some checks failed: calls with this preset will break until the settings below are changed."
    return "Everything this preset needs works." + (" Some settings could be improved." if counts["warn"] else "")


def render_html(results: Sequence[CheckResult], settings: Optional[ConnectionSettings] = None,
                title: str = "OpenAI-compatible connection test") -> str:
    """An HTML report (every value escaped) with one row per check."""
    esc = html.escape
    counts = summarize(results)
    parts = [f"<div class='oc-report'><h2>{esc(title)}</h2>",
             f"<p><b>{esc(verdict(results))}</b> {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} "
             f"failed, {counts['skipped']} skipped.</p>"]
    if settings is not None:
        parts.append("<table class='oc-preset' style='border-collapse:collapse;margin-bottom:1em'>")
        for key, value in describe_settings(settings):
            parts.append(f"<tr><th style='text-align:left;padding:2px 8px'>{esc(key)}</th>"
                         f"<td style='padding:2px 8px'>{esc(value)}</td></tr>")
        parts.append("</table>")
    parts.append("<table class='oc-checks' style='border-collapse:collapse;width:100%'><thead><tr>"
                 + "".join(f"<th style='text-align:left;border-bottom:2px solid #ccc;padding:4px 8px'>{h}</th>"
                           for h in ("Check", "Result", "What it means", "Preset setting to use", "Latency"))
                 + "</tr></thead><tbody>")
    parts.extend(_row(result) for result in results)
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _row(result: CheckResult) -> str:
    esc = html.escape
    color, background, word = _STATUS_STYLE.get(result.status, ("#000", "#fff", result.status))
    latency = "" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"
    detail = (f"<div style='color:#666;font-size:90%;margin-top:2px'>Service said: {esc(result.detail)}</div>"
              if result.detail and result.status in ("fail", "warn") else "")
    return (f"<tr class='oc-{esc(result.status)}' data-check='{esc(result.name, quote=True)}'>"
            f"<td style='{_CELL}'>{esc(result.label)}</td>"
            f"<td style='{_CELL}'><span style='color:{color};background:{background};padding:1px 6px;"
            f"border-radius:3px'>{word}</span></td>"
            f"<td style='{_CELL}'>{esc(result.meaning)}{detail}</td>"
            f"<td style='{_CELL}'>{esc(result.setting)}</td>"
            f"<td style='{_CELL};white-space:nowrap'>{latency}</td></tr>")
