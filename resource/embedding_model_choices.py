"""Dynamic choices for the embed recipe's 'model' parameter: the preset's models, embedding-looking ones first."""
from openai_compatible.dss import model_choices
from openai_compatible.models import embedding_models_first


def do(payload, config, plugin_config, inputs):
    return embedding_models_first(model_choices(config))
