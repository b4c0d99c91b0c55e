"""``python -m tests.servers.fault_server`` or ``python tests/servers/fault_server`` (from anywhere)."""

import os
import sys

if __package__ in (None, ""):  # run as a directory: make ``tests.servers.fault_server`` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

from tests.servers.fault_server.cli import main  # noqa: E402

sys.exit(main())
