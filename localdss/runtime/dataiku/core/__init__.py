"""Internals of the localdss stand-in for DSS's `dataiku` package (files instead of a DSS backend)."""
