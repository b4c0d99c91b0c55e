"""Classify recipe: one label (or a list of labels) per input row, checked against the classes."""
from openai_compatible.dss import classify_task_from_config, run_row_recipe

run_row_recipe(classify_task_from_config)
