"""Dataset of the models a connection offers (id, source, owner, created, endpoint_url)."""
from dataiku.connector import Connector
from openai_compatible.dss import client_for, setup_logging
from openai_compatible.models import MODEL_COLUMNS, list_models


class ModelsConnector(Connector):
    """One row per model of the chosen preset."""

    def __init__(self, config, plugin_config):
        Connector.__init__(self, config, plugin_config)
        setup_logging()

    def get_read_schema(self):
        return {"columns": MODEL_COLUMNS}

    def generate_rows(self, dataset_schema=None, dataset_partitioning=None, partition_id=None, records_limit=-1):
        with client_for(self.config) as client:
            models = list_models(client)
        for count, row in enumerate(models):
            if 0 < records_limit <= count:
                return
            yield row
