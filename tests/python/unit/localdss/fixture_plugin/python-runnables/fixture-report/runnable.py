import html

from dataiku.runnables import ResultTable, Runnable


class FixtureReport(Runnable):
    def __init__(self, project_key, config, plugin_config):
        self.project_key = project_key
        self.config = config
        self.plugin_config = plugin_config

    def get_progress_target(self):
        return (2, "NONE")

    def run(self, progress_callback):
        progress_callback(1)
        preset = self.config["connection"]
        progress_callback(2)
        if self.config["as_table"]:
            table = ResultTable()
            table.set_name(self.config["title"])
            table.add_column("key", "Key", "STRING")
            table.add_column("type", "Type", "STRING")
            for key in sorted(preset):
                table.add_record([key, type(preset[key]).__name__])
            return table
        rows = "".join(f"<li>{html.escape(k)}</li>" for k in sorted(preset))
        return f"<h1>{html.escape(self.config['title'])}</h1><p>{self.project_key}</p><ul>{rows}</ul>"
