"""Logic of the fixture plugin, imported from recipe.py as a real plugin's python-lib is."""


def transform(series, mode):
    """Upper- or lower-case a text column; nulls stay null."""
    return series.str.upper() if mode == "upper" else series.str.lower()
