"""The plugin's version, written once in code; a unit test holds plugin.json and the CHANGELOG against it."""

__version__ = "0.1.0"
