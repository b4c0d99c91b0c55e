"""The parts of openai_compatible.spark that need no Spark: the sealed preset, the per-partition store, the
error without pyspark."""
from __future__ import annotations

import pickle
import sys

import pytest
from openai_compatible import spark as oc_spark
from openai_compatible.errors import SettingsError
from openai_compatible.notebook import preset_config
from openai_compatible.store import AnswerStore

KEY = "sk-sealed-4411"


def test_a_sealed_preset_never_shows_its_key():
    sealed = oc_spark.SealedPreset({"base_url": "http://x/v1", "api_key": KEY})
    assert KEY not in repr(sealed) and KEY not in str(sealed) and KEY not in f"{[sealed]}"
    assert pickle.loads(pickle.dumps(sealed)).open()["api_key"] == KEY  # it still travels to executors


def test_a_partition_store_reads_earlier_attempts_and_writes_its_own(tmp_path):
    earlier = AnswerStore(str(tmp_path / "a0.sqlite"))
    earlier.put_many([("k1", {"text": "old"})])
    own = AnswerStore(str(tmp_path / "a1.sqlite"))
    store = oc_spark.PartitionStore(own, [earlier])
    assert store  # the engine treats an empty store as "none given": this one is given
    store.put_many([("k2", {"text": "new"})])
    found = store.get_many(["k1", "k2", "k3"])
    assert found["k1"] == ({"text": "old"}, False)  # from an earlier attempt: a cache hit, not a duplicate
    assert found["k2"] == ({"text": "new"}, True) and "k3" not in found
    assert len(earlier) == 1 and len(own) == 1  # an earlier attempt's file is never written
    store.close()


def test_a_preset_name_or_dict_is_required():
    with pytest.raises(SettingsError, match="preset name"):
        preset_config("  ")
    assert preset_config({"use_per_user_key": True}, api_key="k")[0]["per_user_key"] == "k"


def test_without_pyspark_the_error_says_where_it_comes_from(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ImportError, match="needs pyspark"):
        oc_spark.apply(object(), {}, "{{x}}", "m")
