"""Prompt recipe: one answer per input row, from a prompt template over the row's columns."""
from openai_compatible.dss import prompt_task_from_config, run_row_recipe

run_row_recipe(prompt_task_from_config)
