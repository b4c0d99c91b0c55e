"""The DSS parameter types, one list for every tool that checks descriptors (tools/check_descriptors.py, localdss).

Source: the parameter reference, Dataiku docs ``source/plugins/reference/params.rst``, summarised in
reference/dss-platform.md section 2.6 (table of types and the Python value each reaches plugin code as).
A type that reference does not list is unknown here, so a descriptor using one fails our checks before
DSS would show it broken. Standard library only: tools/check_descriptors.py imports it as a script.
"""

# reach plugin code as one str: an id, a name, a path or the text itself
STRING_TYPES = frozenset({
    "STRING", "TEXTAREA", "PASSWORD", "DATE", "COLUMN", "DATASET", "DATASET_COLUMN", "MANAGED_FOLDER",
    "SAVED_MODEL", "CONNECTION", "CODE_ENV", "PROJECT", "SCENARIO", "CLUSTER", "BUNDLE", "API_SERVICE",
    "API_SERVICE_VERSION", "VISUAL_ANALYSIS", "ML_TASK", "KNOWLEDGE_BANK", "PLUGIN", "LLM",
})
# reach plugin code as a list of str
STRING_LIST_TYPES = frozenset({"STRINGS", "COLUMNS", "DATASETS", "DATASET_COLUMNS", "CONNECTIONS"})
# the rest: numbers, booleans, choices, structures, presets, credentials, and the value-less separator
OTHER_TYPES = frozenset({
    "INT", "DOUBLE", "INTS", "DOUBLES", "BOOLEAN", "SELECT", "MULTISELECT", "MAP", "KEY_VALUE_LIST",
    "ARRAY", "OBJECT_LIST", "PRESET", "PRESETS", "CREDENTIAL_REQUEST", "SEPARATOR",
})
KNOWN_TYPES = STRING_TYPES | STRING_LIST_TYPES | OTHER_TYPES
# handed to code in clear, so never shown (reference section 3.6)
SECRET_TYPES = frozenset({"PASSWORD", "CREDENTIAL_REQUEST"})
