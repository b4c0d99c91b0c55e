"""Import paths for the provider corpus, so it runs alone as well as in ``make test``."""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _path in (REPO_ROOT, os.path.join(REPO_ROOT, "python-lib")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
