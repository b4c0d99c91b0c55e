"""Shared root conftest: import paths and the real servers (llama.cpp, LiteLLM, fault server).

Fixtures:
* ``llama_server`` (session): a ``LlamaServer``, i.e. the str ``http://127.0.0.1:PORT/v1`` with
  ``.base_url``, ``.target_uri`` (no /v1), ``.model`` (``"smollm2"``) and ``.log_path``.
* ``litellm_proxy`` (session): a ``LiteLLMProxy`` with ``base_url`` (…/v1), ``target_uri`` (no /v1),
  ``master_key``, ``headers`` and ``log_path``; also readable as ``litellm_proxy["base_url"]``.
* ``fault_server`` (function): a started ``tests.servers.fault_server.FaultServer``; ``.url`` ends in /v1.

A server that cannot start fails the tests that need it, with the tail of its log; nothing is skipped.
Every process started here is stopped at the end of the session, even after failures or Ctrl-C.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Iterator, List

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _path in (REPO_ROOT, os.path.join(REPO_ROOT, "python-lib")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tests.servers.fault_server import FaultServer  # noqa: E402
from tools.servers import (  # noqa: E402
    LITELLM_MASTER_KEY,
    LiteLLMProxy,
    LlamaServer,
    ServerStartError,
    start_litellm,
    start_llama_server,
    stop_process,
)

_STARTED: List = []


@atexit.register
def _stop_leftovers() -> None:
    """Last resort if the session ends without fixture teardown."""
    for proc in _STARTED:
        stop_process(proc, timeout=5)


@pytest.fixture(scope="session")
def server_log_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Directory holding the logs (and LiteLLM config) of the session's servers."""
    return str(tmp_path_factory.mktemp("server-logs"))


@pytest.fixture(scope="session")
def llama_server(server_log_dir: str) -> Iterator[LlamaServer]:
    """llama.cpp (xllamacpp) serving SmolLM2 as ``smollm2``: chat, SSE, json_schema, embeddings."""
    try:
        proc, url = start_llama_server(log_dir=os.path.join(server_log_dir, "llama"))
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    _STARTED.append(proc)
    try:
        yield LlamaServer(url, model="smollm2", log_path=getattr(proc, "log_path", None))
    finally:
        stop_process(proc)
        _STARTED.remove(proc)


@pytest.fixture(scope="session")
def litellm_proxy(llama_server: LlamaServer, server_log_dir: str) -> Iterator[LiteLLMProxy]:
    """LiteLLM proxy: mock models, Azure routes, ``api-key``/Bearer auth; smollm2* routed to llama_server.

    Note: ``mock-limited`` allows 3 requests per minute for the whole session.
    """
    try:
        proc, url = start_litellm(llama_server.target_uri, master_key=LITELLM_MASTER_KEY,
                                  log_dir=os.path.join(server_log_dir, "litellm"))
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    _STARTED.append(proc)
    try:
        yield LiteLLMProxy(base_url=url + "/v1", target_uri=url, master_key=LITELLM_MASTER_KEY,
                           log_path=getattr(proc, "log_path", None))
    finally:
        stop_process(proc)
        _STARTED.remove(proc)


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh fault server on 127.0.0.1 (``fault_server.url`` is ``http://127.0.0.1:PORT/v1``)."""
    with FaultServer() as server:
        yield server


def pytest_collection_modifyitems(config, items) -> None:
    """Under mutation testing only (mutmut sets ``MUTANT_UNDER_TEST``, empty for its clean run): the tests a
    mutant is checked with run fastest first, by the durations mutmut measured, so that a killed mutant
    stops (``-x``) at its cheapest failing test instead of after a random share of slow ones. Plain pytest
    runs keep the files' order."""
    if os.environ.get("MUTANT_UNDER_TEST") is None:
        return
    import json

    try:
        with open("mutmut-stats.json", encoding="utf-8") as handle:  # mutmut runs the tests in mutants/
            durations = json.load(handle).get("duration_by_test", {})
    except (OSError, ValueError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
