"""`python -m localdss ...`"""

import sys

from localdss.cli import main

sys.exit(main())
