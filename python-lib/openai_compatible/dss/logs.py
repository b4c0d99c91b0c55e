"""Job-log friendly logging for the plugin's own messages."""
from __future__ import annotations

import logging


def setup_logging() -> None:
    """INFO messages of the plugin in the job log, with time, level and logger name. Leaves an
    already configured root logger (DSS's, a notebook's) as it is."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("openai_compatible").setLevel(logging.INFO)
