"""Evaluate a param's `visibilityCondition` (a small JS expression over `model`).

DSS does not enforce `mandatory` on a field its form hides, so localdss needs to know which fields
are visible. The usual forms are supported: `model.x == 'a'`, `!=`, `===`, `&&`, `||`, `!`,
`['a','b'].includes(model.x)`, literals and parentheses. The expression is translated to Python
and evaluated over a whitelist of AST nodes, never with `eval` on raw text.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||[!<>()\[\],.])
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    )""",
    re.VERBOSE,
)
_OPS = {"===": "==", "!==": "!=", "&&": " and ", "||": " or ", "!": " not "}
_WORDS = {"true": "True", "false": "False", "null": "None", "undefined": "None"}
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Eq, ast.NotEq,
    ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Name, ast.Load, ast.Attribute, ast.Call, ast.List, ast.Tuple,
    ast.Constant,
)


class _Model:
    """`model.x` reads a param value; an unset param reads as None (JS undefined)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        return self._values.get(name)


class UnsupportedConditionError(ValueError):
    """The expression uses JS that this evaluator does not translate."""


def to_python(expression: str) -> str:
    """Translate the JS expression to Python source; `.includes(` becomes `.__contains__(`."""
    out: list[str] = []
    pos = 0
    expression = expression.strip()
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if not match or match.end() == pos:
            raise UnsupportedConditionError(f"cannot read {expression[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup
        token = match.group(kind)
        if kind == "op":
            out.append(_OPS.get(token, token))
        elif kind == "name":
            if token == "includes" and out and out[-1] == ".":  # noqa: S105 (a JS method name)
                out.append("__contains__")
            else:
                out.append(_WORDS.get(token, token))
        else:
            out.append(token)
    return "".join(out)


def _check(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise UnsupportedConditionError(f"unsupported construct {type(node).__name__}")
        if isinstance(node, ast.Name) and node.id != "model":
            raise UnsupportedConditionError(f"unknown name {node.id!r}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr != "__contains__":
            raise UnsupportedConditionError(f"unsupported attribute {node.attr!r}")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Attribute) and node.func.attr == "__contains__" and len(node.args) == 1
        ):
            raise UnsupportedConditionError("only .includes(x) calls are supported")


def is_visible(condition: Any, values: Mapping[str, Any]) -> bool:
    """True when the field shows in the form. No condition: visible; the literal false: hidden.

    An expression that cannot be evaluated counts as visible, so a mandatory field is still checked.
    """
    if condition is None or condition == "":
        return True
    if isinstance(condition, bool):
        return condition
    try:
        tree = ast.parse(to_python(str(condition)), mode="eval")
        _check(tree)
        code = compile(tree, "<visibilityCondition>", "eval")
        return bool(eval(code, {"__builtins__": {}}, {"model": _Model(values)}))  # noqa: S307 (AST whitelisted)
    except Exception:
        return True
