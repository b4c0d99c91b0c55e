"""Embed recipe: one embedding vector per input row, several rows per request."""
from openai_compatible.dss import embed_task_from_config, run_row_recipe

run_row_recipe(embed_task_from_config)
