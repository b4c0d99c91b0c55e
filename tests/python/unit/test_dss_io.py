"""How the recipes read their input on each DSS version (the reader's signature decides)."""
from __future__ import annotations

import logging

import pytest
from openai_compatible.dss.datasets import check_readable, read_options, write_output_schema
from openai_compatible.errors import SettingsError

SCHEMA = [{"name": "n", "type": "int"}, {"name": "flag", "type": "boolean"}, {"name": "t", "type": "string"}]


class Modern:
    """The reader of a recent DSS (developer.dataiku.com "Datasets")."""

    def iter_dataframes(self, chunksize=10000, infer_with_pandas=True, sampling="head", sampling_column=None,
                        parse_dates=True, limit=None, ratio=None, columns=None, bool_as_str=False,
                        int_as_float=False, use_nullable_integers=False, float_precision=None, na_values=None,
                        keep_default_na=True):
        raise AssertionError("not read in this test")


class Legacy:
    """The reader of an old DSS: no nullable integers, no bool_as_str, no keep_default_na."""

    def iter_dataframes(self, chunksize=10000, infer_with_pandas=True, sampling="head", sampling_column=None,
                        parse_dates=True, limit=None, ratio=None, columns=None):
        raise AssertionError("not read in this test")


def test_modern_dss_gets_every_option() -> None:
    assert read_options(Modern(), SCHEMA) == {
        "infer_with_pandas": False, "parse_dates": False, "use_nullable_integers": True, "bool_as_str": True,
        "keep_default_na": False, "na_values": [""]}


def test_legacy_dss_falls_back_to_pandas_inference(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="openai_compatible"):
        options = read_options(Legacy(), SCHEMA)
    assert options == {"infer_with_pandas": True, "parse_dates": False}
    assert "reads texts such as 'NA'" in caplog.text
    assert read_options(Legacy(), [{"name": "t", "type": "string"}])["infer_with_pandas"] is False


class Failing:
    full_name = "PROJ.reviews"

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def iter_dataframes(self, **kwargs):
        self.calls.append(kwargs)
        yield "first chunk"
        raise ValueError("Unable to parse string \"many\" at position 3")


def test_check_reads_only_typed_columns_and_names_the_dataset() -> None:
    dataset = Failing()
    options = {"infer_with_pandas": False, "use_nullable_integers": True}
    with pytest.raises(SettingsError, match=r"Input dataset PROJ\.reviews cannot be read .*\"many\".*string"):
        check_readable(dataset, SCHEMA, options, limit=50)
    assert dataset.calls[0]["columns"] == ["n"] and dataset.calls[0]["limit"] == 50
    check_readable(dataset, [{"name": "t", "type": "string"}], options, None)  # text never fails: no pass
    assert len(dataset.calls) == 1


class Output:
    def __init__(self, partition=None):
        self.writePartition = partition
        self.calls: list = []

    def write_schema(self, columns, dropAndCreate=False):  # noqa: N803 - DSS's keyword
        self.calls.append((columns, dropAndCreate))


def test_output_schema_drops_and_recreates_unless_partitioned() -> None:
    plain, partitioned = Output(), Output("FR")
    write_output_schema(plain, [{"name": "a", "type": "string"}])
    write_output_schema(partitioned, [{"name": "a", "type": "string"}])
    assert plain.calls == [([{"name": "a", "type": "string"}], True)]
    assert partitioned.calls[0][1] is False
