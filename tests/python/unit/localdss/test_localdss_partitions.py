"""Partitioned flows and containerized execution in localdss, as DSS runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from localdss_testkit import FIXTURE, run_cli

import localdss
from localdss.roles import Flow, _check_partitions, dataset_location, partitioning_of


def partitioned_input(tmp_path: Path) -> Path:
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "FR.csv").write_text("id,text\n1,bonjour\n2,salut\n")
    (folder / "DE.csv").write_text("id,text\n3,hallo\n")
    return folder


def test_partitioned_dataset_outside_a_recipe(tmp_path: Path) -> None:
    source = partitioned_input(tmp_path)
    out = tmp_path / "out"
    with localdss.session(inputs={"input": source}, outputs={"output": out}, partitioning={"input": "country",
                          "output": ["country"]}, in_recipe=False):
        import dataiku

        ds = dataiku.Dataset("reviews")
        assert ds.list_partitions() == ["DE", "FR"]
        assert ds.get_dataframe()["id"].tolist() == [3, 1, 2]  # no read partition: the whole dataset
        ds.add_read_partitions("FR")
        assert ds.get_dataframe(limit=1)["text"].tolist() == ["bonjour"]
        target = dataiku.Dataset("out")
        target.write_schema([{"name": "id", "type": "bigint"}])
        with pytest.raises(Exception, match="partitioned: writing needs a partition"):
            with target.get_writer() as writer:
                writer.write_row_array([1])
        target.set_write_partition("FR")
        with target.get_writer() as writer:
            writer.write_row_array([1])
        assert sorted(p.name for p in out.iterdir()) == ["FR.csv"]


def test_in_a_recipe_the_flow_sets_the_partitions(tmp_path: Path) -> None:
    source = partitioned_input(tmp_path)
    with localdss.session(inputs={"input": source}, outputs={"output": tmp_path / "out"},
                          partitioning={"input": "country", "output": "country"}, partition="DE"):
        import dataiku

        ds = dataiku.Dataset("reviews")
        assert ds.read_partitions == ["DE"] and ds.get_dataframe()["text"].tolist() == ["hallo"]
        with pytest.raises(Exception, match="cannot manually set partitions"):
            ds.add_read_partitions("FR")
        target = dataiku.Dataset("out")
        assert target.writePartition == "DE"
        with pytest.raises(Exception, match="not allowed in Python recipes"):
            target.set_write_partition("FR")


def run_fixture(tmp_path: Path, partition: str, **kwargs):
    return localdss.run_recipe("fixture-upper", config={"column": "text"},
                               presets={"connection": {"base_url": "http://127.0.0.1:9/v1"}},
                               plugin_root=FIXTURE, partition=partition, **kwargs)


def test_parallel_partitions_write_their_own_partition(tmp_path: Path) -> None:
    source = partitioned_input(tmp_path)
    out, stats = tmp_path / "out", tmp_path / "stats"
    results = localdss.run_partitions(
        "fixture-upper", ["FR", "DE"], config={"column": "text"},
        presets={"connection": {"base_url": "http://127.0.0.1:9/v1"}}, plugin_root=FIXTURE,
        inputs={"input": source}, outputs={"output": out}, folders={"stats": stats},
        partitioning={"input": "country", "output": "country", "stats": "country"})
    assert all(r.returncode == 0 for r in results.values()), [r.stderr for r in results.values()]
    assert (out / "FR.csv").read_text().splitlines() == ["id,text,text_upper", "1,bonjour,BONJOUR", "2,salut,SALUT"]
    assert (out / "DE.csv").read_text().splitlines() == ["id,text,text_upper", "3,hallo,HALLO"]
    written = json.loads((stats / "stats.json").read_text())  # the stats folder keeps the last writer's
    built = written["partitions"][1]
    assert built in ("FR", "DE") and written["partitions"] == [[built], built]
    assert written["flow_variables"] == {"DKU_DST_country": built, "DKU_SRC_reviews_country": built,
                                         "DKU_SRC_country": built}


def test_partition_rules_are_checked_before_running(tmp_path: Path) -> None:
    source = partitioned_input(tmp_path)
    no_partition = localdss.run_recipe("fixture-upper", config={"column": "text"},
                                       presets={"connection": {"base_url": "http://127.0.0.1:9/v1"}},
                                       plugin_root=FIXTURE, inputs={"input": source},
                                       outputs={"output": tmp_path / "out"}, partitioning={"input": "country",
                                                                                            "output": "country"})
    assert no_partition.returncode == 2 and "give the partition to build" in no_partition.stderr
    bad_id = run_fixture(tmp_path, "FR|x", inputs={"input": source}, outputs={"output": tmp_path / "out"},
                         partitioning={"input": "country", "output": "country"})
    assert bad_id.returncode == 2 and "needs one value per dimension ['country']" in bad_id.stderr
    flow, problems = Flow(), []
    flow.add(dataset_location(tmp_path / "a", "out", "a", partitioning_of("country")), "FR")
    flow.add(dataset_location(tmp_path / "b.csv", "out", "b"))
    _check_partitions(flow, "FR", problems)
    assert problems == ["all output datasets of a recipe must have the same partitioning (DSS builds the same "
                        "partition of each); partition them alike"]
    assert flow.variables == {"DKU_DST_country": "FR"}


def test_folder_partitions_and_container_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with localdss.session(output_folders={"cache": tmp_path / "cache"}, partitioning={"cache": "country"},
                          partition="FR"):
        import dataiku

        folder = dataiku.Folder("cache")
        assert folder.is_partitioning_directory_based()
        assert folder.get_partition_folder("FR") == "/FR"
        folder.upload_data("/FR/a.txt", b"1")
        folder.upload_data("/DE/b.txt", b"2")
        assert folder.list_paths_in_partition("FR") == ["/FR/a.txt"] and folder.list_partitions() == ["DE", "FR"]
        assert folder.get_path() == str(tmp_path / "cache")
        monkeypatch.setenv("LOCALDSS_CONTAINER", "no-path")
        with pytest.raises(Exception, match="not on the local filesystem"):
            folder.get_path()
        monkeypatch.setenv("LOCALDSS_CONTAINER", "missing-path")
        assert not Path(folder.get_path()).exists()
        with folder.get_download_stream("/FR/a.txt") as stream:  # streaming works in a container
            assert stream.read() == b"1"


def test_cli_builds_one_partition(tmp_path: Path) -> None:
    source = partitioned_input(tmp_path)
    config, preset = tmp_path / "config.json", tmp_path / "preset.json"
    config.write_text(json.dumps({"column": "text"}))
    preset.write_text(json.dumps({"base_url": "http://127.0.0.1:9/v1"}))
    result = run_cli("recipe", "fixture-upper", "--config", str(config), "--preset", f"connection={preset}",
                     "--input", f"input={source}", "--output", f"output={tmp_path / 'out'}",
                     "--partitioning", "input=country", "--partitioning", "output=country", "--partition", "DE",
                     "--read-partitions", "input=DE,FR")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "DE.csv").read_text().splitlines()[1:] == ["3,hallo,HALLO", "1,bonjour,BONJOUR",
                                                                           "2,salut,SALUT"]


def test_partitions_written_at_once_replace_their_shared_schema_without_clashing(tmp_path) -> None:
    """The partitions of one dataset share its schema file and may be built at once: each writer replaces it
    through a temporary file of its own (a shared temporary name made one writer's rename fail)."""
    import threading

    with localdss.session():  # the runtime's `dataiku` package, as a recipe sees it
        from dataiku.core.schema import read_schema_file, write_schema_file

    path = tmp_path / "out.schema.json"
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(200):
                write_schema_file(path, {"columns": [{"name": f"c{n}", "type": "string"}]})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert read_schema_file(path)[0]["name"] in {"c0", "c1", "c2", "c3"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.schema.json"]  # no temporary file left
