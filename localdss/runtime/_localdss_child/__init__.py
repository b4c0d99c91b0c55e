"""Runs one plugin component inside the child process of a localdss job."""
