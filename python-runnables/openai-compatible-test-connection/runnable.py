"""Macro: test a connection preset and report, in HTML, what the service supports and what to change."""
from dataiku.runnables import Runnable
from openai_compatible.check import CHECK_STEPS
from openai_compatible.dss import connection_test_report


class TestConnection(Runnable):
    """Runs the connection checks on the chosen preset (and optional model)."""

    def __init__(self, project_key, config, plugin_config):
        super().__init__(project_key, config, plugin_config)
        self.config = config

    def get_progress_target(self):
        return (CHECK_STEPS, "NONE")

    def run(self, progress_callback):
        return connection_test_report(self.config, progress_callback)
