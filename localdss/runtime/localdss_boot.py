"""Child-process entry point of a localdss job (run as a script, so this directory is sys.path[0]).

sys.path is then: this directory (the stand-in `dataiku`), the plugin's python-lib (PYTHONPATH),
the interpreter's own paths. The job description is the JSON file named by LOCALDSS_JOB_FILE.
"""

import sys

from _localdss_child.main import main

sys.exit(main())
