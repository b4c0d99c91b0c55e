"""Load a component's code file as a module and find the class DSS would instantiate."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from types import ModuleType


def load_module(path: str, module_name: str) -> ModuleType:
    """Import a file as a module registered in sys.modules (so dataclasses, pickling work)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def find_subclass(module: ModuleType, bases: tuple[type, ...], file_name: str) -> type:
    """The one concrete subclass of `bases` in the module (defined there or imported).

    When classes derive from one another, the most derived is taken; two unrelated candidates are
    ambiguous and fail the job, since DSS would not know which one to run either.
    """
    candidates = {
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, bases) and obj not in bases and not inspect.isabstract(obj)
        and not obj.__module__.startswith("dataiku.")
    }
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    names = ", ".join(sorted(b.__name__ for b in bases))
    if not leaves:
        raise TypeError(f"{file_name} defines no subclass of {names}")
    if len(leaves) > 1:
        found = ", ".join(sorted(c.__name__ for c in leaves))
        raise TypeError(f"{file_name} defines several subclasses of {names} ({found}); keep one")
    return leaves[0]
