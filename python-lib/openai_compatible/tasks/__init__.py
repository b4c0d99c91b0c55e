"""What one row becomes: the request built from the row, and the columns read from the answer.

Tasks know nothing of DSS; recipes, the notebook API and the LLM component share them.
"""
from .base import RowInputError, Task

__all__ = ["RowInputError", "Task"]
