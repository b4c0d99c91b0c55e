"""`make install`'s script, tools/install_plugin.py: the real dataikuapi against the DSS API stand-in."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile

import pytest

from tests.servers.dss_api import DSSAPIServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(REPO, "tools", "install_plugin.py")
ADMIN_KEY, USER_KEY = "admin-secret-key-5150", "user-secret-key-6160"
PLUGIN = "openai-compatible"


@pytest.fixture
def archive(tmp_path):
    """A plugin zip of this repository's descriptors and python-lib (what `make plugin` packs)."""
    path = tmp_path / "plugin.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        for folder in ("parameter-sets", "code-env", "python-lib", "python-llms", "python-runnables"):
            for root, _, files in os.walk(os.path.join(REPO, folder)):
                for name in files:
                    if not name.endswith(".pyc"):
                        full = os.path.join(root, name)
                        zipped.write(full, os.path.relpath(full, REPO))
        zipped.write(os.path.join(REPO, "plugin.json"), "plugin.json")
    return str(path)


@pytest.fixture
def dss():
    server = DSSAPIServer().start()
    server.add_user(ADMIN_KEY, "admin", admin=True)
    server.add_user(USER_KEY, "someone")
    try:
        yield server
    finally:
        server.stop()


def install(url, archive, key=ADMIN_KEY, *extra):
    env = {k: v for k, v in os.environ.items() if k != "DSS_API_KEY"}
    if key is not None:
        env["DSS_API_KEY"] = key
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "python-lib"), REPO])
    run = subprocess.run([sys.executable, SCRIPT, "--url", url, "--archive", archive, *extra], env=env,
                         capture_output=True, text=True, timeout=120)
    for secret in (ADMIN_KEY, USER_KEY):
        assert secret not in run.stdout + run.stderr
    return run


def version_of(archive):
    with zipfile.ZipFile(archive) as zipped:
        return json.loads(zipped.read("plugin.json"))["version"]


def test_install_then_update(dss, archive):
    run = install(dss.url, archive)
    assert run.returncode == 0, run.stdout + run.stderr
    version = version_of(archive)
    assert f"Installed plugin {PLUGIN} {version}." in run.stdout
    assert f"Created code environment plugin_{PLUGIN}_managed" in run.stdout
    assert dss.plugins[PLUGIN]["settings"]["codeEnvName"] == f"plugin_{PLUGIN}_managed"
    assert ("POST", "/dip/publicapi/plugins/actions/installFromZip") in dss.calls
    # presets survive an update, and the existing code env is updated rather than created again
    dss.add_preset(PLUGIN, "connection", "kept", {"base_url": "http://x/v1", "models": ["m"]})
    run = install(dss.url, archive)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Updated plugin {PLUGIN} from {version} to {version}." in run.stdout
    assert f"Updated code environment plugin_{PLUGIN}_managed." in run.stdout
    assert ("POST", f"/dip/publicapi/plugins/{PLUGIN}/actions/updateFromZip") in dss.calls
    assert [p["name"] for p in dss.plugins[PLUGIN]["settings"]["presets"]] == ["kept"]
    assert "Done:" in run.stdout


def test_install_with_a_python_version_and_without_code_env(dss, archive):
    run = install(dss.url, archive, ADMIN_KEY, "--python", "PYTHON311")
    assert run.returncode == 0 and "(PYTHON311)" in run.stdout
    run = install(dss.url, archive, ADMIN_KEY, "--no-code-env")
    assert run.returncode == 0 and "Skipped the code environment" in run.stdout


def test_bad_key(dss, archive):
    run = install(dss.url, archive, "not-a-key-at-all")
    assert run.returncode == 1
    assert "refused the API key (HTTP 401)" in run.stdout
    assert "not-a-key-at-all" not in run.stdout + run.stderr


def test_key_without_rights(dss, archive):
    run = install(dss.url, archive, USER_KEY)
    assert run.returncode == 1
    assert "admin" in run.stdout and "Develop plugins" in run.stdout
    assert PLUGIN not in dss.plugins


def test_bad_url(archive):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = install(f"http://127.0.0.1:{port}", archive)
    assert run.returncode == 1 and "Cannot reach DSS" in run.stdout
    run = install("dss.example.com", archive)
    assert run.returncode == 2 and "http://" in run.stdout


def test_url_of_something_else(fault_server, archive):
    run = install(fault_server.target_uri, archive)
    assert run.returncode == 1 and "DSS_URL must be the DSS base URL" in run.stdout


def test_plugin_in_use(dss, archive):
    assert install(dss.url, archive).returncode == 0
    dss.in_use.add(PLUGIN)
    run = install(dss.url, archive)
    assert run.returncode == 1
    assert "because the plugin is in use" in run.stdout and "make install" in run.stdout


def test_code_env_failure(dss, archive):
    dss.code_env_error = "Could not find a version that satisfies the requirement requests==99"
    run = install(dss.url, archive)
    assert run.returncode == 1
    assert "requests==99" in run.stdout


def test_missing_key_or_archive(dss, tmp_path, archive):
    run = install(dss.url, archive, None)
    assert run.returncode == 2 and "DSS_API_KEY is not set" in run.stdout
    run = install(dss.url, str(tmp_path / "missing.zip"))
    assert run.returncode == 1 and "make plugin" in run.stdout
