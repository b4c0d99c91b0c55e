from dataiku.connector import Connector


class FixtureRows(Connector):
    def __init__(self, config, plugin_config):
        Connector.__init__(self, config, plugin_config)
        self.count = int(config["count"])

    def get_read_schema(self):
        if not self.config["declare_schema"]:
            return None
        return {"columns": [{"name": "i", "type": "bigint"}, {"name": "label", "type": "string"},
                            {"name": "even", "type": "boolean"}, {"name": "tags", "type": "array"}]}

    def generate_rows(self, dataset_schema=None, dataset_partitioning=None, partition_id=None, records_limit=-1):
        for i in range(self.count):
            if 0 < records_limit <= i:
                return
            yield {"i": i, "label": f"row{i}", "even": i % 2 == 0, "tags": ["a", str(i)],
                   "score": i / 2 if i else None}
