"""The stand-in `dataiku` Dataset and Folder, used in process through localdss.session()."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
from localdss_testkit import big_csv

import localdss


def test_reading_types_and_null_rule(small_csv: Path) -> None:
    with localdss.session(inputs={"input": small_csv}):
        import dataiku

        ds = dataiku.Dataset("in")
        assert ds.read_schema() == [{"name": "id", "type": "string"}, {"name": "text", "type": "string"}]
        # DSS hands pandas its default missing-value strings: None, NaN, N/A, null read as missing ...
        default = ds.get_dataframe(infer_with_pandas=False)
        assert default["id"].tolist() == ["1", "2", "3", "4", "5", "6", "7"]
        assert default["text"].isna().tolist() == [False] + [True] * 6
        # ... unless the reader passes keep_default_na=False (only empty cells are missing)
        strings = ds.get_dataframe(infer_with_pandas=False, keep_default_na=False, na_values=[""])
        assert strings["text"].tolist()[:5] == ["hello", "None", "NaN", "N/A", "null"]
        assert strings["text"].isna().tolist() == [False] * 5 + [True, True]
        inferred = ds.get_dataframe()
        assert str(inferred["id"].dtype) == "int64" and pd.isna(inferred["text"][1])
        kept = next(ds.iter_dataframes(chunksize=10, keep_default_na=False, na_values=[""]))
        assert kept["text"].tolist()[1] == "None"
        assert ds.get_dataframe(columns=["text", "id"], limit=2).columns.tolist() == ["text", "id"]
        assert len(ds.get_dataframe(limit=2)) == 2
        rows = list(ds.iter_rows())
        assert rows[1] == {"id": "2", "text": "None"} and rows[5] == {"id": "6", "text": None}


def test_schema_file_drives_types(tmp_path: Path) -> None:
    source = tmp_path / "typed.csv"
    source.write_text("n,x,flag,when,tags\n1,0.5,true,2024-01-02T03:04:05.000Z,[1]\n,1.5,false,,\n")
    (tmp_path / "typed.schema.json").write_text(json.dumps([
        {"name": "n", "type": "int"}, {"name": "x", "type": "double"}, {"name": "flag", "type": "boolean"},
        {"name": "when", "type": "date"}, {"name": "tags", "type": "array", "comment": "JSON"}]))
    with localdss.session(inputs={"input": source}):
        import dataiku

        ds = dataiku.Dataset("typed")
        assert ds.read_schema()[4] == {"name": "tags", "type": "array", "comment": "JSON"}
        # DSS: "if a column contains a single missing value, reading will fail"
        with pytest.raises(ValueError, match="Integer column has NA values in column 0 \\('n'\\)"):
            ds.get_dataframe(infer_with_pandas=False)
        df = ds.get_dataframe(infer_with_pandas=False, int_as_float=True)
        assert str(df["n"].dtype) == "float64"
        assert df["flag"].tolist() == [True, False] and str(df["flag"].dtype) == "bool"
        assert df["when"][0] == pd.Timestamp("2024-01-02T03:04:05Z") and pd.isna(df["when"][1])
        assert df["tags"][0] == "[1]"
        nullable = ds.get_dataframe(infer_with_pandas=False, use_nullable_integers=True)
        assert str(nullable["n"].dtype) == "Int64"
        as_text = ds.get_dataframe(infer_with_pandas=False, bool_as_str=True, use_nullable_integers=True)
        assert as_text["flag"].tolist() == ["true", "false"]


@pytest.mark.parametrize(("cells", "kwargs", "error"), [
    ("n\n1\nabc\n", {"use_nullable_integers": True}, "Invalid number in column 0 \\('n'\\)"),
    ("n\n1\n2.5\n", {"use_nullable_integers": True}, "Non-integer value"),
    ("x\n1.5\nlots\n", {}, "Invalid number in column 0 \\('x'\\)"),
    ("flag\ntrue\n\"\"\n", {}, "Bool column has NA values"),
    ("flag\ntrue\nyes\n", {}, "Invalid boolean"),
    ("when\n2024-01-02T00:00:00.000Z\nsoon\n", {}, "Invalid date"),
])
def test_typed_columns_fail_the_read_as_in_dss(tmp_path: Path, cells: str, kwargs: dict, error: str) -> None:
    """Invalid text in a typed column fails the whole read (DSS: "the whole get_dataframe call will fail")."""
    column = cells.split("\n", 1)[0]
    dss_type = {"n": "bigint", "x": "double", "flag": "boolean", "when": "date"}[column]
    source = tmp_path / "bad.csv"
    source.write_text(cells)
    (tmp_path / "bad.schema.json").write_text(json.dumps([{"name": column, "type": dss_type}]))
    with localdss.session(inputs={"input": source}):
        import dataiku

        ds = dataiku.Dataset("bad")
        with pytest.raises(ValueError, match=error):
            ds.get_dataframe(infer_with_pandas=False, **kwargs)
        assert len(ds.get_dataframe()) == 2  # inferred by pandas: nothing is forced, nothing fails


def test_nullable_integers_and_na_texts_pass(tmp_path: Path) -> None:
    source = tmp_path / "ok.csv"
    source.write_text("n,country,flag\n1,NA,true\n,FR,\n")
    (tmp_path / "ok.schema.json").write_text(json.dumps([{"name": "n", "type": "int"},
                                                         {"name": "country", "type": "string"},
                                                         {"name": "flag", "type": "boolean"}]))
    with localdss.session(inputs={"input": source}):
        import dataiku

        df = dataiku.Dataset("ok").get_dataframe(infer_with_pandas=False, use_nullable_integers=True,
                                                 bool_as_str=True, keep_default_na=False, na_values=[""])
        assert str(df["n"].dtype) == "Int64" and df["n"].isna().tolist() == [False, True]
        assert df["country"].tolist() == ["NA", "FR"]
        assert df["flag"][0] == "true" and pd.isna(df["flag"][1])


def test_iter_dataframes_streams_with_flat_memory(tmp_path: Path) -> None:
    source = big_csv(tmp_path / "big.csv", 50_000)
    with localdss.session(inputs={"input": source}):
        import dataiku

        ds = dataiku.Dataset("big")
        tracemalloc.start()
        sizes = [len(df) for df in ds.iter_dataframes(chunksize=1000, infer_with_pandas=False)]
        _, chunked_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        whole = ds.get_dataframe(infer_with_pandas=False)
        _, whole_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert sizes == [1000] * 50 and len(whole) == 50_000
        assert chunked_peak < whole_peak / 4, (chunked_peak, whole_peak)
        assert [len(df) for df in ds.iter_dataframes(chunksize=20_000, limit=45_000)] == [20_000, 20_000, 5000]


def test_parquet_batches(tmp_path: Path) -> None:
    source = tmp_path / "p.parquet"
    pd.DataFrame({"a": range(10), "s": ["x", None] * 5}).to_parquet(source, row_group_size=4)
    with localdss.session(inputs={"input": source}):
        import dataiku

        ds = dataiku.Dataset("p")
        assert ds.read_schema() == [{"name": "a", "type": "bigint"}, {"name": "s", "type": "string"}]
        chunks = list(ds.iter_dataframes(chunksize=3, limit=7, columns=["s"]))
        assert [len(c) for c in chunks] == [3, 3, 1]
        assert all(c.columns.tolist() == ["s"] for c in chunks)
        assert ds.get_dataframe()["s"].isna().sum() == 5


def test_writer_rules(tmp_path: Path, small_csv: Path) -> None:
    out = tmp_path / "out.csv"
    with localdss.session(inputs={"input": small_csv}, outputs={"output": out}):
        import dataiku

        src, dst = dataiku.Dataset("in"), dataiku.Dataset("LOCALPROJECT.out")
        with pytest.raises(Exception, match="not declared as an output"):
            src.get_writer()
        with pytest.raises(Exception, match="not declared as an input"):
            dst.get_dataframe()
        with pytest.raises(Exception, match="cannot be used : declare it as input or output"):
            dataiku.Dataset("elsewhere")
        with pytest.raises(Exception, match="schema is empty"), dst.get_writer() as writer:
            writer.write_dataframe(pd.DataFrame({"a": [1]}))
        df = pd.DataFrame({"a": [1.0, None], "b": [True, False], "c": [[1, 2], {"k": "v"}],
                           "d": pd.to_datetime(["2024-01-02", None], utc=True)})
        dst.write_schema([{"name": "a", "type": "bigint"}, {"name": "b", "type": "boolean"},
                          {"name": "c", "type": "object"}, {"name": "d", "type": "date", "comment": "when"}])
        with dst.get_writer() as writer:
            with pytest.raises(Exception, match="already another active writer"):
                dst.get_writer()
            with pytest.raises(ValueError, match="do not match the dataset schema"):
                writer.write_dataframe(df[["b", "a", "c", "d"]])
            writer.write_dataframe(df)
            with pytest.raises(Exception, match="while a writer is writing"):
                dst.write_schema([{"name": "a", "type": "string"}])
            writer.write_row_dict({"a": 7, "c": "{}"})
        assert out.read_text().splitlines() == [
            "a,b,c,d", '1,true,"[1, 2]",2024-01-02T00:00:00.000Z', ',false,"{""k"": ""v""}",', "7,,{},"]
        assert json.loads((tmp_path / "out.schema.json").read_text())[3] == {"name": "d", "type": "date",
                                                                             "comment": "when"}
        with pytest.raises(ValueError, match="unknown type 'text'"):
            dst.write_schema([{"name": "a", "type": "text"}])
        dst.write_with_schema(pd.DataFrame({"x": []}, dtype=object))
        assert out.read_text() == "x\n"


def test_folder(tmp_path: Path) -> None:
    with localdss.session(output_folders={"cache": tmp_path / "cache"}):
        import dataiku

        folder = dataiku.Folder("cache")
        folder.write_json("/a/b.json", {"k": 1})
        folder.upload_data("c.txt", "hello")
        with folder.get_writer("d.bin") as w:
            w.write(b"\x00\x01")
        assert folder.list_paths_in_partition() == ["/a/b.json", "/c.txt", "/d.bin"]
        assert folder.read_json("a/b.json") == {"k": 1}
        with folder.get_download_stream("/c.txt") as stream:
            assert stream.read() == b"hello"
        assert folder.get_path() == str(tmp_path / "cache")
        assert folder.get_info()["name"] == "cache"
        folder.delete_path("/a")
        assert folder.list_paths_in_partition() == ["/c.txt", "/d.bin"]
        with pytest.raises(ValueError, match="outside folder"):
            folder.upload_data("../escape.txt", "x")
        with pytest.raises(Exception, match="does not exist"), folder.get_download_stream("nope"):
            pass


def test_api_client_needs_a_real_dss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DKU_DSS_URL", raising=False)
    with localdss.session():
        import dataiku

        with pytest.raises(RuntimeError, match="not available in localdss"):
            dataiku.api_client()
        assert dataiku.default_project_key() == "LOCALPROJECT"
        assert dataiku.get_custom_variables() == {}


def test_customrecipe_in_session(small_csv: Path, tmp_path: Path) -> None:
    with localdss.session(inputs={"input": small_csv}, outputs={"output": tmp_path / "o.csv"},
                          config={"n": 2.0}) as flow:
        from dataiku import customrecipe

        assert customrecipe.get_input_names_for_role("input") == flow.names["input"] == ["LOCALPROJECT.in"]
        assert customrecipe.get_output_names_for_role("output", full=False) == ["o"]
        assert customrecipe.get_recipe_config() == {"n": 2.0}


def test_csv_cell_formats(tmp_path: Path) -> None:
    out = tmp_path / "cells.csv"
    df = pd.DataFrame({"i": [1, 2], "f": [0.5, float("nan")], "inf": [float("inf"), 1.0], "b": [True, False],
                       "s": ["a,b", None], "n": pd.array([3, None], dtype="Int64")})
    with localdss.session(outputs={"output": out}):
        import dataiku

        dataiku.Dataset("cells").write_with_schema(df)
    assert json.loads((tmp_path / "cells.schema.json").read_text()) == [
        {"name": "i", "type": "bigint"}, {"name": "f", "type": "double"}, {"name": "inf", "type": "double"},
        {"name": "b", "type": "boolean"}, {"name": "s", "type": "string"}, {"name": "n", "type": "bigint"}]
    assert out.read_text().splitlines() == ["i,f,inf,b,s,n", '1,0.5,Infinity,true,"a,b",3', "2,,1.0,false,,"]


def test_folder_streams_work_without_with(tmp_path: Path) -> None:
    with localdss.session(output_folders={"cache": tmp_path / "cache"}):
        import dataiku

        folder = dataiku.Folder("cache")
        writer = folder.get_writer("x.txt")
        writer.write(b"abc")
        writer.close()
        stream = folder.get_download_stream("x.txt")
        assert stream.read() == b"abc"
        stream.close()
