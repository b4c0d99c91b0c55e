#!/usr/bin/env python3
"""Install or update the plugin in a DSS instance through its public API (dataiku-api-client).

Usage: DSS_API_KEY=... python tools/install_plugin.py --url https://dss.example.com:11200 --archive dist/x.zip

(``make install DSS_URL=... DSS_API_KEY=...`` builds the zip and runs this.) The key is read from the
``DSS_API_KEY`` environment variable, never from the command line, and never printed.

Steps: check the URL and the key; install the zip, or update the plugin when it is already there;
then create the plugin's code environment (and make it the plugin's), or update the existing one.
Prints what it did; stops with a clear message and exit status 1 on any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from typing import Any, Optional

import requests

PYTHON_INTERPRETERS = ("PYTHON39", "PYTHON310", "PYTHON311", "PYTHON312", "PYTHON313")
_IN_USE_MARKERS = ("in use", "is used", "currently used", "being used", "still used", "running", "locked",
                   "busy")


class InstallError(Exception):
    """A failure with a message meant for the person running the install."""


def _say(message: str) -> None:
    print(message, flush=True)


class Installer:
    """The install steps, each printing what it did."""

    def __init__(self, url: str, api_key: str, archive: str, *, python: Optional[str] = None,
                 code_env: bool = True, insecure: bool = False) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.archive = archive
        self.python = python
        self.code_env = code_env
        self.insecure = insecure

    def clean(self, text: Any) -> str:
        """Any text shown to the user, with the key masked."""
        out = str(text)
        if self.api_key and len(self.api_key) >= 4:
            out = out.replace(self.api_key, "***")
        return out

    # --- steps ----------------------------------------------------------------------------------------

    def plugin_identity(self) -> tuple[str, str]:
        if not os.path.isfile(self.archive):
            raise InstallError(f"No plugin archive at {self.archive}: build it with `make plugin`.")
        try:
            with zipfile.ZipFile(self.archive) as archive:
                names = archive.namelist()
                descriptor = next((n for n in names if n.rstrip("/").split("/")[-1] == "plugin.json"
                                   and n.count("/") <= 1), None)
                if descriptor is None:
                    raise InstallError(f"{self.archive} has no plugin.json at its root: not a DSS plugin archive.")
                meta = json.loads(archive.read(descriptor))
        except zipfile.BadZipFile:
            raise InstallError(f"{self.archive} is not a zip file: rebuild it with `make plugin`.") from None
        return str(meta.get("id")), str(meta.get("version") or "?")

    def preflight(self) -> str:
        """Checks the URL and the key with one call; returns the identity DSS knows the key as."""
        try:
            response = requests.get(f"{self.url}/dip/publicapi/auth/info", auth=(self.api_key, ""), timeout=30,
                                    verify=not self.insecure)
        except requests.exceptions.SSLError:
            raise InstallError(f"TLS failed for {self.url}: the certificate is not trusted. Set REQUESTS_CA_BUNDLE "
                               "to your CA's PEM file (or pass --insecure on a test instance).") from None
        except requests.exceptions.RequestException as exc:
            raise InstallError(f"Cannot reach DSS at {self.url} ({type(exc).__name__}): check DSS_URL (scheme, "
                               "host and port, e.g. https://dss.example.com:11200) and that DSS is running.") from None
        if response.status_code == 401:
            raise InstallError("DSS refused the API key (HTTP 401): check DSS_API_KEY (a personal or global API key "
                               "of this instance).")
        if response.status_code == 403:
            raise InstallError("DSS accepted the API key but it may not do this (HTTP 403): installing plugins needs "
                               "an admin key or the 'Develop plugins' permission.")
        if response.status_code == 404:
            raise InstallError(f"{self.url} answered 404 for the DSS API: DSS_URL must be the DSS base URL (no "
                               "path), e.g. https://dss.example.com:11200.")
        try:
            info = response.json()
        except ValueError:
            info = None
        if response.status_code >= 400 or not isinstance(info, dict):
            raise InstallError(f"{self.url} does not answer like DSS (HTTP {response.status_code}): check DSS_URL.")
        return str(info.get("authIdentifier") or "an API key")

    def client(self) -> Any:
        import dataikuapi

        return dataikuapi.DSSClient(self.url, self.api_key, no_check_certificate=self.insecure)

    def install_or_update(self, client: Any, plugin_id: str, version: str) -> tuple[str, Optional[str]]:
        installed = {p.get("id"): p for p in self._call("list the installed plugins", client.list_plugins)}
        with open(self.archive, "rb") as archive:
            if plugin_id in installed:
                before = _version_of(installed[plugin_id])
                self._call(f"update the plugin '{plugin_id}'", client.get_plugin(plugin_id).update_from_zip,
                           archive, plugin_id=plugin_id)
                _say(f"Updated plugin {plugin_id} from {before or 'an earlier version'} to {version}.")
                return "updated", before
            self._call(f"install the plugin '{plugin_id}'", client.install_plugin_from_archive, archive,
                       plugin_id=plugin_id)
        _say(f"Installed plugin {plugin_id} {version}.")
        return "installed", None

    def ensure_code_env(self, client: Any, plugin_id: str) -> str:
        plugin = client.get_plugin(plugin_id)
        settings = self._call("read the plugin's settings", plugin.get_settings)
        current = settings.get_raw().get("codeEnvName")
        if current:
            future = self._call(f"update the code environment '{current}'", plugin.update_code_env,
                                plugin_id=plugin_id)
            result = self._call(f"update the code environment '{current}'", future.wait_for_result,
                                plugin_id=plugin_id)
            self._check_env_result(result, f"updating the code environment '{current}'")
            _say(f"Updated code environment {current}.")
            return current
        future = self._call("create the plugin's code environment", plugin.create_code_env,
                            python_interpreter=self.python)
        result = self._call("create the plugin's code environment", future.wait_for_result)
        self._check_env_result(result, "creating the plugin's code environment")
        name = (result or {}).get("envName")
        if not name:
            raise InstallError("DSS created no code environment (no envName in its answer); create it from the "
                               "plugin's page in DSS.")
        settings = self._call("read the plugin's settings", plugin.get_settings)
        settings.set_code_env(name)
        self._call("save the plugin's settings", settings.save)
        _say(f"Created code environment {name}" + (f" ({self.python})" if self.python else "")
             + " and made it the plugin's code environment.")
        return name

    def run(self) -> int:
        plugin_id, version = self.plugin_identity()
        who = self.preflight()
        _say(f"Connected to DSS at {self.url} as {who}.")
        client = self.client()
        self.install_or_update(client, plugin_id, version)
        if self.code_env:
            self.ensure_code_env(client, plugin_id)
        else:
            _say("Skipped the code environment (--no-code-env).")
        _say(f"Done: {plugin_id} {version} is ready in DSS.")
        return 0

    # --- helpers --------------------------------------------------------------------------------------

    def _call(self, what: str, function: Any, *args: Any, plugin_id: Optional[str] = None, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise InstallError(f"Lost the connection to DSS while trying to {what} ({type(exc).__name__}).") from None
        except Exception as exc:  # dataikuapi raises DataikuException "<errorType>: <message>"
            message = self.clean(exc)
            lowered = message.lower()
            if "unauthorized" in lowered or "forbidden" in lowered or "permission" in lowered:
                raise InstallError(f"DSS refused to {what}: {message}. The API key needs admin rights or the "
                                   "'Develop plugins' permission.") from None
            if plugin_id and any(marker in lowered for marker in _IN_USE_MARKERS):
                raise InstallError(f"DSS refused to {what} because the plugin is in use: {message}. Stop the jobs, "
                                   f"notebooks, webapps and scenarios using '{plugin_id}' or its code environment, "
                                   "then run `make install` again.") from None
            raise InstallError(f"DSS failed to {what}: {message}") from None

    def _check_env_result(self, result: Any, what: str) -> None:
        messages = (result or {}).get("messages") if isinstance(result, dict) else None
        if isinstance(messages, dict) and messages.get("error"):
            details = [m.get("message") or m.get("details") or str(m) for m in messages.get("messages") or []
                       if isinstance(m, dict)]
            raise InstallError(f"DSS reported an error while {what}: " + self.clean("; ".join(details) or
                                                                                   "see the code env's log in DSS"))


def _version_of(plugin: dict) -> Optional[str]:
    for candidate in (plugin.get("version"), (plugin.get("meta") or {}).get("version"),
                      (plugin.get("installedDesc") or {}).get("desc", {}).get("version")):
        if candidate:
            return str(candidate)
    return None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Install or update the plugin in DSS (key from DSS_API_KEY).")
    parser.add_argument("--url", required=True, help="DSS base URL, e.g. https://dss.example.com:11200")
    parser.add_argument("--archive", required=True, help="the plugin zip built by `make plugin`")
    parser.add_argument("--python", choices=PYTHON_INTERPRETERS, default=None,
                        help="interpreter of a new code env (default: the plugin's desc.json choice)")
    parser.add_argument("--no-code-env", action="store_true", help="do not create or update the code env")
    parser.add_argument("--insecure", action="store_true", help="do not verify DSS's TLS certificate (tests only)")
    args = parser.parse_args(argv)
    api_key = os.environ.get("DSS_API_KEY", "").strip()
    if not api_key:
        _say("DSS_API_KEY is not set: export it (a personal or global API key with admin rights), "
             "e.g. make install DSS_URL=... DSS_API_KEY=...")
        return 2
    if not args.url.startswith(("http://", "https://")):
        _say(f"--url must start with http:// or https://, not {args.url!r}.")
        return 2
    installer = Installer(args.url, api_key, args.archive, python=args.python, code_env=not args.no_code_env,
                          insecure=args.insecure)
    try:
        return installer.run()
    except InstallError as exc:
        _say(f"Install failed: {installer.clean(exc)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
