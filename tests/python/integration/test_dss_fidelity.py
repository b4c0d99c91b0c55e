"""The recipes through localdss where DSS is strict: typed columns with nulls, texts pandas would read
as missing, partitioned flows built in parallel, and containerized execution of the answer cache."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import localdss

TYPED_SCHEMA = [{"name": "id", "type": "int"}, {"name": "n", "type": "bigint"}, {"name": "flag", "type": "boolean"},
                {"name": "when", "type": "date"}, {"name": "score", "type": "double"},
                {"name": "country", "type": "string"}, {"name": "text", "type": "string"}]
TYPED_ROWS = [
    "1,10,true,2024-01-02T03:04:05.000Z,0.5,FR,bonjour",
    "2,,,,,NA,hello",          # Namibia: a text, not a missing value
    ",30,false,2024-02-03T00:00:00.000Z,2.25,None,null",
    "4,40,,,1.0,n/a,nan",
]


def preset_for(server, **extra) -> dict:
    return {"base_url": server.url, "models": ["m"], "api_key": "sk-test-fidelity", **extra}


def typed_input(tmp_path: Path, rows: list[str] = TYPED_ROWS) -> Path:
    source = tmp_path / "typed.csv"
    source.write_text(",".join(c["name"] for c in TYPED_SCHEMA) + "\n" + "\n".join(rows) + "\n")
    (tmp_path / "typed.schema.json").write_text(json.dumps(TYPED_SCHEMA))
    return source


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_nulls_in_typed_columns_and_na_texts_pass_through(tmp_path, fault_server):
    source = typed_input(tmp_path)
    out = tmp_path / "out.csv"
    config = {"model": "m", "prompt_template": "{{country}}/{{text}}"}
    done = localdss.run_recipe("openai-compatible-prompt", config=config,
                               presets={"connection": preset_for(fault_server)}, inputs={"input": str(source)},
                               outputs={"output": str(out)}, timeout=300)
    assert done.returncode == 0, done.stderr
    result = read_rows(out)
    assert [r["llm_response"] for r in result] == ["echo: FR/bonjour", "echo: NA/hello", "echo: None/null",
                                                  "echo: n/a/nan"]
    assert all(r["llm_error_type"] == "" for r in result)
    original = [dict(zip([c["name"] for c in TYPED_SCHEMA], line.split(","))) for line in TYPED_ROWS]
    for row, before in zip(result, original):
        assert {k: row[k] for k in before} == before  # every input cell untouched, empty ones included
    schema = json.loads((tmp_path / "out.schema.json").read_text())
    assert schema[:len(TYPED_SCHEMA)] == TYPED_SCHEMA
    assert fault_server.calls == 4


def test_invalid_cell_fails_before_any_request(tmp_path, fault_server):
    rows = [f"{i},{i},true,,1.5,FR,row {i}" for i in range(2500)] + ["2500,many,true,,1.5,FR,bad"]
    source = typed_input(tmp_path, rows)
    out = tmp_path / "out.csv"
    done = localdss.run_recipe("openai-compatible-prompt", config={"model": "m", "prompt_template": "{{text}}"},
                               presets={"connection": preset_for(fault_server)}, inputs={"input": str(source)},
                               outputs={"output": str(out)}, timeout=300)
    assert done.returncode == 1
    assert "cannot be read with its column types" in done.stderr and "'n'" in done.stderr
    assert "No row was sent" in done.stderr
    assert fault_server.calls == 0
