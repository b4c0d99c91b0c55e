"""`python -m localdss recipe`: the fixture recipe run in its own process, as DSS runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from localdss_testkit import FIXTURE, SECRET, USER_SECRET, big_csv, run_cli, write_json


def recipe(tmp: Path, config: dict, preset: Path, *extra: str):
    return run_cli("recipe", "fixture-upper", "--config", str(write_json(tmp / "config.json", config)),
                   "--preset", f"connection={preset}", *extra)


@pytest.fixture
def done(tmp_path: Path, small_csv: Path, preset_file: Path):
    """One successful run; the tests below read its outputs."""
    result = recipe(tmp_path, {"column": "text", "chunk_size": 3, "stale_key": 1}, preset_file,
                    "--input", f"input={small_csv}", "--output", f"output={tmp_path / 'out.csv'}",
                    "--folder", f"stats={tmp_path / 'stats'}")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats" / "stats.json").read_text())
    return result, stats, tmp_path


def test_null_vs_text_rule(done) -> None:
    _, stats, tmp = done
    text = (tmp / "out.csv").read_text().splitlines()
    # DSS reads with pandas' default missing-value strings: None, NaN, N/A and null are missing too
    assert text == ["id,text,text_upper", "1,hello,HELLO", "2,,", "3,,", "4,,", "5,,", "6,,", "7,,"]
    assert stats["nulls"] == 6


def test_schema_file_has_types_and_comments(done) -> None:
    _, _, tmp = done
    schema = json.loads((tmp / "out.schema.json").read_text())
    assert schema == [{"name": "id", "type": "string"}, {"name": "text", "type": "string"},
                      {"name": "text_upper", "type": "string", "comment": "text in upper case"}]


def test_defaults_int_as_float_and_preset_resolution(done) -> None:
    _, stats, _ = done
    config = stats["config"]
    assert config["chunk_size"] == 3.0 and stats["config_types"]["chunk_size"] == "float"
    assert config["kill_after_chunks"] == 0.0 and stats["config_types"]["kill_after_chunks"] == "float"
    assert config["mode"] == "upper" and config["suffix"] == "_upper"  # defaults
    assert config["stale_key"] == 1  # unknown keys pass through, as a stale DSS config does
    conn = config["connection"]
    assert conn["style"] == "openai" and conn["max_concurrency"] == 4.0 and conn["timeout_s"] == 30.0
    assert conn["api_key"] == SECRET and conn["user_key"] == USER_SECRET  # credential request: a plain str
    assert conn["endpoints"] == [] and "target_uri" not in conn
    assert stats["plugin_config"] == {"admin_note": "hello"}


def test_runtime_environment(done) -> None:
    result, stats, _ = done
    assert stats["sys_path_0"].endswith("localdss/runtime")
    assert stats["localdss_importable"] is False
    assert stats["resource"] == str(FIXTURE / "resource")
    assert stats["project_key"] == "LOCALPROJECT"
    assert stats["input_full_name"] == "LOCALPROJECT.in" and stats["input_short_name"] == "in"
    assert stats["variables"] == {}
    assert stats["chunk_sizes"] == [3, 3, 1]
    assert "recipe done" in result.stdout  # the job log streams through


def test_secrets_are_masked_in_the_log(done) -> None:
    result, _, _ = done
    assert SECRET not in result.stderr + result.stdout
    assert USER_SECRET not in result.stderr + result.stdout
    assert '"api_key": "********"' in result.stderr
    assert "unknown parameter 'stale_key'" in result.stderr


def test_infer_with_pandas_types(tmp_path: Path, small_csv: Path, preset_file: Path) -> None:
    result = recipe(tmp_path, {"column": "text", "infer": True}, preset_file, "--input", f"input={small_csv}",
                    "--output", f"output={tmp_path / 'out.csv'}")
    assert result.returncode == 0, result.stderr
    schema = json.loads((tmp_path / "out.schema.json").read_text())
    assert [c["type"] for c in schema] == ["bigint", "string", "string"]
    assert (tmp_path / "out.csv").read_text().splitlines()[2] == "2,,"


def test_input_schema_file_types_columns(tmp_path: Path, small_csv: Path, preset_file: Path) -> None:
    write_json(tmp_path / "in.schema.json", [{"name": "id", "type": "int"}, {"name": "text", "type": "string"}])
    result = recipe(tmp_path, {"column": "text"}, preset_file, "--input", f"input={small_csv}",
                    "--output", f"output={tmp_path / 'out.csv'}")
    assert result.returncode == 0, result.stderr
    schema = json.loads((tmp_path / "out.schema.json").read_text())
    assert schema[0] == {"name": "id", "type": "bigint"}


def test_chunked_reading_of_50k_rows(tmp_path: Path, preset_file: Path) -> None:
    source = big_csv(tmp_path / "big.csv", 50_000)
    result = recipe(tmp_path, {"column": "text", "chunk_size": 7000}, preset_file, "--input", f"input={source}",
                    "--output", f"output={tmp_path / 'out.csv'}", "--folder", f"stats={tmp_path / 'stats'}")
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "stats" / "stats.json").read_text())
    assert stats["chunk_sizes"] == [7000] * 7 + [1000]
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 50_000 and out["text_upper"].iloc[-1].startswith("ROW NUMBER 49999")


def test_progressive_writing_survives_a_killed_process(tmp_path: Path, preset_file: Path) -> None:
    source = big_csv(tmp_path / "big.csv", 50_000)
    result = recipe(tmp_path, {"column": "text", "chunk_size": 1000, "kill_after_chunks": 3}, preset_file,
                    "--input", f"input={source}", "--output", f"output={tmp_path / 'out.csv'}")
    assert result.returncode == 1
    assert "killed by signal SIGKILL" in result.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 3000 and out["id"].tolist() == list(range(3000))


def test_parquet_in_and_out(tmp_path: Path, preset_file: Path) -> None:
    source = tmp_path / "in.parquet"
    pd.DataFrame({"id": [1, 2, 3, 4], "text": ["a", None, "None", "NaN"]}).to_parquet(source, row_group_size=2)
    result = recipe(tmp_path, {"column": "text", "chunk_size": 3}, preset_file, "--input", f"input={source}",
                    "--output", f"output={tmp_path / 'out.parquet'}", "--folder", f"stats={tmp_path / 'stats'}")
    assert result.returncode == 0, result.stderr
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["text_upper"].tolist() == ["A", None, None, None]  # DSS streams Parquet as text too
    assert out["id"].tolist() == [1, 2, 3, 4]
    schema = json.loads((tmp_path / "out.schema.json").read_text())
    assert schema[0] == {"name": "id", "type": "bigint"}
    assert schema[2]["comment"] == "text in upper case"
    stats = json.loads((tmp_path / "stats" / "stats.json").read_text())
    assert stats["nulls"] == 3 and sum(stats["chunk_sizes"]) == 4


def test_failure_exits_1_with_the_error(tmp_path: Path, small_csv: Path, preset_file: Path) -> None:
    result = recipe(tmp_path, {"column": "text", "fail_message": "boom: provider unreachable"}, preset_file,
                    "--input", f"input={small_csv}", "--output", f"output={tmp_path / 'out.csv'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "[localdss] Job failed: ValueError: boom: provider unreachable"
    assert 'recipe.py", line' in result.stderr and "Traceback" in result.stderr


@pytest.mark.parametrize(("config", "preset", "roles", "expected"), [
    ({}, None, None, "parameter 'column' is mandatory but has no value"),
    ({"column": "text", "chunk_size": "10"}, None, None, "parameter 'chunk_size' expects a number, got str"),
    ({"column": "text", "chunk_size": 0}, None, None, "parameter 'chunk_size' must be >= 1"),
    ({"column": "text", "mode": "title"}, None, None, "parameter 'mode' value 'title' is not one of the choices"),
    ({"column": "text"}, {"base_url": "http://x", "colour": "red"}, None, "unknown parameter 'colour'"),
    ({"column": "text"}, {"base_url": "http://x", "style": ""}, None, "parameter 'style' is mandatory"),
    ({"column": "text"}, {"base_url": "http://x", "max_concurrency": 100}, None, "'max_concurrency' must be <= 64"),
    ({"column": "text"}, {"base_url": "http://x", "style": "gcp"}, None, "value 'gcp' is not one of the choices"),
    ({"column": "text"}, None, ["--input", "extra=IN"], "unknown input role 'extra'"),
    ({"column": "text"}, None, ["--input", "input=IN"], "output role 'output' is required"),
    ({"column": "text"}, None, ["--folder", "output=OUTDIR"], "role 'output' does not accept managed folders"),
])
def test_config_errors_exit_2(tmp_path: Path, small_csv: Path, config, preset, roles, expected) -> None:
    preset_path = write_json(tmp_path / "p.json", preset if preset is not None else {"base_url": "http://x"})
    default_roles = ["--input", "input=IN", "--output", f"output={tmp_path / 'out.csv'}"]
    args = [a.replace("IN", str(small_csv)).replace("OUTDIR", str(tmp_path / "d")) for a in (roles or default_roles)]
    result = recipe(tmp_path, config, preset_path, *args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "out.csv").exists()  # nothing ran


def test_unary_role_takes_one_dataset(tmp_path: Path, small_csv: Path, preset_file: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("id,text\n1,x\n")
    result = recipe(tmp_path, {"column": "text"}, preset_file, "--input", f"input={small_csv}",
                    "--input", f"input={other}", "--output", f"output={tmp_path / 'out.csv'}")
    assert result.returncode == 2
    assert "input role 'input' takes one item (arity UNARY), got 2" in result.stderr


def test_missing_preset_and_unknown_preset_name(tmp_path: Path, small_csv: Path, preset_file: Path) -> None:
    roles = ["--input", f"input={small_csv}", "--output", f"output={tmp_path / 'out.csv'}"]
    result = run_cli("recipe", "fixture-upper", "--config", str(write_json(tmp_path / "c.json", {"column": "text"})),
                     *roles)
    assert result.returncode == 2 and "give --preset connection=PRESET.json" in result.stderr
    result = recipe(tmp_path, {"column": "text"}, preset_file, "--preset", f"conn={preset_file}", *roles)
    assert result.returncode == 2 and "no PRESET parameter 'conn'" in result.stderr


def test_unknown_column_warns(tmp_path: Path, small_csv: Path, preset_file: Path) -> None:
    result = recipe(tmp_path, {"column": "texte"}, preset_file, "--input", f"input={small_csv}",
                    "--output", f"output={tmp_path / 'out.csv'}")
    assert "column 'texte' is not in input role 'input'" in result.stderr
    assert result.returncode == 1 and "KeyError: 'texte'" in result.stderr


def test_unknown_recipe_lists_the_available_ones() -> None:
    result = run_cli("recipe", "nope")
    assert result.returncode == 2 and "available: fixture-upper" in result.stderr
