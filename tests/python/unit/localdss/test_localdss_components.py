"""Connector, macro and LLM components through the CLI and the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from localdss_testkit import FIXTURE, SECRET, run_cli, write_json

import localdss


def test_connector_limit_and_declared_schema(tmp_path: Path) -> None:
    out = tmp_path / "rows.csv"
    result = run_cli("connector", "fixture_rows", "--output", str(out), "--limit", "4")
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == [
        "i,label,even,tags", '0,row0,true,"[""a"", ""0""]"', '1,row1,false,"[""a"", ""1""]"',
        '2,row2,true,"[""a"", ""2""]"', '3,row3,false,"[""a"", ""3""]"']
    schema = json.loads((tmp_path / "rows.schema.json").read_text())
    assert [c["type"] for c in schema] == ["bigint", "string", "boolean", "array"]
    assert "not in the read schema, dropped: ['score']" in result.stderr


def test_connector_inferred_schema_to_parquet(tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    config = write_json(tmp_path / "c.json", {"declare_schema": False, "count": 5})
    result = run_cli("connector", "fixture_rows", "--config", str(config), "--output", str(out))
    assert result.returncode == 0, result.stderr
    schema = {c["name"]: c["type"] for c in json.loads((tmp_path / "rows.schema.json").read_text())}
    assert schema == {"i": "bigint", "label": "string", "even": "boolean", "tags": "array", "score": "double"}
    df = pd.read_parquet(out)
    assert df["i"].tolist() == [0, 1, 2, 3, 4] and pd.isna(df["score"][0]) and df["score"][4] == 2.0


def test_macro_html_and_result_table(tmp_path: Path, preset_file: Path) -> None:
    report = tmp_path / "report.html"
    config = write_json(tmp_path / "c.json", {"title": "Check <1>"})
    result = run_cli("macro", "fixture-report", "--config", str(config), "--preset", f"connection={preset_file}",
                     "--output", str(report))
    assert result.returncode == 0, result.stderr
    html = report.read_text()
    assert html.startswith("<h1>Check &lt;1&gt;</h1><p>LOCALPROJECT</p>") and "<li>api_key</li>" in html
    assert SECRET not in html + result.stderr
    assert "[localdss] progress: 2 / 2 NONE" in result.stderr

    config = write_json(tmp_path / "c.json", {"title": "T", "as_table": True})
    result = run_cli("macro", "fixture-report", "--config", str(config), "--preset", f"connection={preset_file}",
                     "--output", str(report))
    assert result.returncode == 0, result.stderr
    assert "<th>Key</th><th>Type</th>" in report.read_text()
    assert "<td>max_concurrency</td><td>float</td>" in report.read_text()
    assert "resultType HTML but run() returned ResultTable" in result.stderr


def test_macro_missing_mandatory_param(tmp_path: Path, preset_file: Path) -> None:
    result = run_cli("macro", "fixture-report", "--preset", f"connection={preset_file}",
                     "--output", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "parameter 'title' is mandatory" in result.stderr


def test_llm_process(tmp_path: Path, preset_file: Path) -> None:
    query = write_json(tmp_path / "q.json", {"messages": [{"role": "user", "content": "hi there"}]})
    settings = write_json(tmp_path / "s.json", {"temperature": 0.2})
    trace = tmp_path / "trace.json"
    result = run_cli("llm", "fixture-chat", "--preset", f"connection={preset_file}", "--query", str(query),
                     "--settings", str(settings), "--trace", str(trace))
    assert result.returncode == 0, result.stderr
    assert localdss.parse_json_lines(result.stdout) == [
        {"text": "echo: hi there", "promptTokens": 3, "completionTokens": 3, "temperature": 0.2}]
    assert "a log line from the component" in result.stderr  # component prints stay out of the results
    span = json.loads(trace.read_text())["children"][0]
    assert span["name"] == "echo" and span["attributes"] == {"concurrency": 4.0} and "duration" in span


def test_llm_stream(tmp_path: Path, preset_file: Path) -> None:
    query = write_json(tmp_path / "q.json", "hello world")
    result = run_cli("llm", "fixture-chat", "--preset", f"connection={preset_file}", "--query", str(query),
                     "--stream")
    assert result.returncode == 0, result.stderr
    items = localdss.parse_json_lines(result.stdout)
    assert [i["chunk"]["text"] for i in items[:-1]] == ["echo: ", "hello ", "world "]
    assert items[-1] == {"footer": {"completionTokens": 3, "finishReason": "stop"}}


def test_llm_embedding_and_python_api(preset_file: Path) -> None:
    result = localdss.run_llm("fixture-embed", presets={"connection": preset_file}, query=["abc", "de"],
                              plugin_root=FIXTURE)
    assert result.returncode == 0, result.stderr
    assert localdss.parse_json_lines(result.stdout) == [{"responses": [{"embedding": [3.0, 1.0]},
                                                                      {"embedding": [2.0, 1.0]}]}]


def test_python_api_recipe_and_config_error(tmp_path: Path, small_csv: Path) -> None:
    preset = {"base_url": "http://x/v1"}
    done = localdss.run_recipe("fixture-upper", {"column": "text", "mode": "lower"}, {"connection": preset},
                               inputs={"input": small_csv}, outputs={"output": tmp_path / "o.csv"},
                               plugin_root=FIXTURE)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.csv").read_text().splitlines()[1] == "1,hello,hello"
    bad = localdss.run_recipe("fixture-upper", {"column": "text", "mode": 3}, {"connection": preset},
                              inputs={"input": small_csv}, outputs={"output": tmp_path / "o.csv"},
                              plugin_root=FIXTURE)
    assert bad.returncode == localdss.EXIT_CONFIG_ERROR and "parameter 'mode' value 3" in bad.stderr


def test_list_components() -> None:
    assert localdss.list_components(FIXTURE) == {
        "recipe": ["fixture-upper"], "connector": ["fixture_rows"], "macro": ["fixture-report"],
        "llm": ["fixture-chat", "fixture-embed"]}
