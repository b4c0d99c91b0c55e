"""`dataiku.llm.python.custom`: where some DSS builds keep the embedding base class (see the parent package)."""
