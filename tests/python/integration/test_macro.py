"""The test-connection macro, run by `python -m localdss macro` as DSS would run it."""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys

from tests.servers.fault_server import Fault, oai_error

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MACRO = "openai-compatible-test-connection"
SECRET = "sk-macro-secret-9090"


def run_macro(tmp_path, preset, config=None):
    preset_file, config_file, report = tmp_path / "preset.json", tmp_path / "config.json", tmp_path / "report.html"
    preset_file.write_text(json.dumps(preset))
    config_file.write_text(json.dumps(config or {}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(REPO, "python-lib"), REPO]))
    run = subprocess.run([sys.executable, "-m", "localdss", "macro", MACRO, "--config", str(config_file),
                          "--preset", f"connection={preset_file}", "--output", str(report)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    page = report.read_text()
    return page, run


def rows(page):
    """{check name: (result word, meaning, setting)} read back from the report."""
    out = {}
    pattern = re.compile(r"<tr class='oc-(\w+)' data-check='([^']*)'>(.*?)</tr>", re.DOTALL)
    for status, name, body in pattern.findall(page):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", body,
                                                                                 re.DOTALL)]
        out[html.unescape(name)] = {"status": status, "meaning": cells[2], "setting": cells[3]}
    return out


def test_macro_on_a_provider_with_broken_capabilities(tmp_path, fault_server):
    fault_server.require_auth(SECRET)
    fault_server.reject_stream()
    fault_server.reject_param("max_completion_tokens")
    fault_server.reject_role("developer")
    fault_server.add_rule(Fault.error(400, oai_error("json_schema response format is not supported",
                                                     param="response_format")),
                          lambda req: (req.json.get("response_format") or {}).get("type") == "json_schema")
    page, run = run_macro(tmp_path, {"base_url": fault_server.url, "models": ["fault-chat"], "api_key": SECRET,
                                     "streaming": "yes", "max_tokens_field": "max_completion_tokens",
                                     "system_role": "developer", "json_mode": "json_schema", "max_retries": 1})
    found = rows(page)
    assert found["streaming"]["setting"] == "set 'streaming' to 'no'"
    assert found["token_field"]["setting"] == "set 'max_tokens_field' to 'max_tokens'"
    assert found["developer_role"]["setting"] == "set 'system_role' to 'system'"
    assert found["json_schema"]["setting"] == "set 'json_mode' to 'json_object'"
    for name in ("streaming", "token_field", "developer_role", "json_schema"):
        assert found[name]["status"] == "fail"
    assert found["authentication"]["status"] == "ok"
    assert "Some checks failed" in page
    assert SECRET not in page + run.stdout + run.stderr
    # DSS's progress bar: one step after each check, out of get_progress_target()
    steps = [line for line in run.stderr.splitlines() if line.startswith("[localdss] progress:")]
    from openai_compatible.checks import CHECK_STEPS

    assert steps == [f"[localdss] progress: {i} / {CHECK_STEPS} NONE" for i in range(1, CHECK_STEPS + 1)]


def test_macro_on_llama_server(tmp_path, llama_server):
    page, _ = run_macro(tmp_path, {"base_url": llama_server.base_url, "models": [llama_server.model],
                                   "auth_scheme": "none"})
    found = rows(page)
    assert found[f"chat:{llama_server.model}"]["status"] == "ok"
    assert found["streaming"]["status"] == "ok"
    assert found["json_schema"]["status"] == "ok"
    assert not [n for n, r in found.items() if r["status"] == "fail"]
    assert "Everything this preset needs works" in page


def test_macro_on_litellm_with_one_model(tmp_path, litellm_proxy):
    page, run = run_macro(tmp_path, {"base_url": litellm_proxy.base_url, "models": ["mock-gpt", "mock-embed"],
                                     "api_key": litellm_proxy.master_key}, {"model": "mock-gpt"})
    found = rows(page)
    assert found["chat:mock-gpt"]["status"] == "ok"
    assert "chat:mock-embed" not in found  # only the chosen model
    assert found["authentication"]["status"] == "ok"
    assert litellm_proxy.master_key not in page + run.stdout + run.stderr


def test_macro_report_is_escaped(tmp_path, fault_server):
    page, _ = run_macro(tmp_path, {"base_url": fault_server.url, "models": ["fault-chat", "<img src=x onerror=1>"],
                                   "auth_scheme": "none"})
    assert "<img" not in page
    assert "&lt;img src=x onerror=1&gt;" in page


def test_macro_on_an_invalid_preset(tmp_path):
    page, _ = run_macro(tmp_path, {"style": "openai", "models": ["m"], "api_key": SECRET})
    found = rows(page)
    assert found["preset"]["status"] == "fail"
    assert "base_url" in found["preset"]["meaning"]
    assert SECRET not in page


def test_macro_on_llama_server_without_v1(tmp_path, llama_server):
    page, _ = run_macro(tmp_path, {"base_url": llama_server.target_uri, "models": [llama_server.model],
                                   "auth_scheme": "none"})
    found = rows(page)
    assert found[f"chat:{llama_server.model}"]["status"] == "ok"
    assert found["api_path"]["setting"] == f"set 'base_url' to '{llama_server.base_url}'"
    assert found[f"embeddings:{llama_server.model}"]["status"] == "fail"
    assert "Everything this preset needs works" not in page


def test_macro_names_the_scheme_the_service_accepts(tmp_path, fault_server):
    fault_server.require_auth(SECRET, scheme="api-key")
    page, run = run_macro(tmp_path, {"base_url": fault_server.url, "models": ["fault-chat"], "api_key": SECRET,
                                     "max_retries": 0})
    found = rows(page)
    assert found["authentication"]["status"] == "fail"
    assert found["authentication"]["setting"] == "set 'auth_scheme' to 'api_key_header'"
    assert SECRET not in page + run.stdout + run.stderr


def test_macro_warns_about_a_model_the_preset_does_not_offer(tmp_path, fault_server):
    page, _ = run_macro(tmp_path, {"base_url": fault_server.url, "models": ["fault-chat"], "auth_scheme": "none"},
                        {"model": "fault-embed"})
    found = rows(page)
    assert found["in_preset:fault-embed"]["status"] == "warn"
    assert "'models'" in found["in_preset:fault-embed"]["meaning"]
    assert found["in_preset:fault-embed"]["setting"].startswith("add 'fault-embed' to 'models'")
