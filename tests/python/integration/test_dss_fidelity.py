"""The recipes through localdss where DSS is strict: typed columns with nulls, texts pandas would read
as missing, partitioned flows built in parallel, and containerized execution of the answer cache."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

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


def partitioned_reviews(tmp_path: Path) -> Path:
    folder = tmp_path / "reviews"
    folder.mkdir(exist_ok=True)
    (folder / "FR.csv").write_text("id,text\n1,bonjour\n2,salut\n3,NA\n")
    (folder / "DE.csv").write_text("id,text\n4,hallo\n5,tschuss\n")
    return folder


def run_partitioned(tmp_path: Path, server, partitions: list[str], container=None, cache_partitioned=True):
    partitioning = {"input": "country", "output": "country"}
    if cache_partitioned:
        partitioning["cache"] = "country"
    return localdss.run_partitions(
        "openai-compatible-prompt", partitions, config={"model": "m", "prompt_template": "Say {{text}}"},
        presets={"connection": preset_for(server)}, inputs={"input": str(partitioned_reviews(tmp_path))},
        outputs={"output": str(tmp_path / "out")}, folders={"cache": str(tmp_path / "cache")},
        partitioning=partitioning, container=container, timeout=300)


@pytest.mark.parametrize("container", [None, "no-path", "missing-path"])
def test_partitions_built_in_parallel_share_nothing_and_rerun_free(tmp_path, fault_server, container):
    results = run_partitioned(tmp_path, fault_server, ["FR", "DE"], container)
    assert all(r.returncode == 0 for r in results.values()), [r.stderr for r in results.values()]
    assert [r["llm_response"] for r in read_rows(tmp_path / "out" / "FR.csv")] == [
        "echo: Say bonjour", "echo: Say salut", "echo: Say NA"]
    assert [r["id"] for r in read_rows(tmp_path / "out" / "DE.csv")] == ["4", "5"]
    assert fault_server.calls == 5
    # one cache file per partition, in the folder's partition root (dkulib's default layout)
    assert sorted(str(p.relative_to(tmp_path / "cache")) for p in (tmp_path / "cache").rglob("*.sqlite")) == [
        "DE/openai-compatible-answers.sqlite", "FR/openai-compatible-answers.sqlite"]
    rerun = run_partitioned(tmp_path, fault_server, ["FR"], container)["FR"]
    assert rerun.returncode == 0, rerun.stderr
    assert fault_server.calls == 5  # the rerun of FR pays nothing
    assert len(read_rows(tmp_path / "out" / "FR.csv")) == 3


def test_cache_folder_not_partitioned_like_the_dataset_is_refused(tmp_path, fault_server):
    result = run_partitioned(tmp_path, fault_server, ["FR"], cache_partitioned=False)["FR"]
    assert result.returncode == 1
    assert "is partitioned (this job builds partition 'FR') but the answer cache folder 'cache' is not" in result.stderr
    assert fault_server.calls == 0
