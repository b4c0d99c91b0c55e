"""Fixtures of the localdss tests: a preset file and a small CSV with DSS's tricky texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from localdss_testkit import SECRET, USER_SECRET, write_json


@pytest.fixture
def preset_file(tmp_path: Path) -> Path:
    return write_json(tmp_path / "preset.json", {"base_url": "http://127.0.0.1:9/v1", "api_key": SECRET,
                                                 "user_key": USER_SECRET})


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """Texts DSS keeps as text (None, NaN, N/A, null) and two truly empty cells."""
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,hello\n2,None\n3,NaN\n4,N/A\n5,null\n6,\n7,""\n', encoding="utf-8")
    return path
