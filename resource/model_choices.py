"""Dynamic choices for the components' 'model' parameter: the models of the chosen preset."""
from openai_compatible.dss import model_choices


def do(payload, config, plugin_config, inputs):
    return model_choices(config)
