"""The ``[sweep] filter`` expression of a sweep file: parsed once with ``ast``, checked against a whitelist of node
types (comparisons, and/or/not, arithmetic, constants) and the sweep's axis names (``core.neurons`` works as
written), then evaluated per point by a small tree walker (no ``eval``)."""

from __future__ import annotations

import ast
from typing import Any

from spikemesh.sweep.spec import SweepError

_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Eq,
            ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Name, ast.Attribute, ast.Load,
            ast.Constant, ast.List, ast.Tuple, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod)


def compile_filter(expr: str | None, names: list[str], where: str) -> Any:
    """A filter expression -> a function (axis values -> bool). Names are axis names (``core.neurons`` works as
    written); only comparisons, boolean and arithmetic operators and constants are allowed."""
    if expr is None:
        return None
    if not isinstance(expr, str):
        raise SweepError("[sweep] filter must be a string", node=where, needed="str", available=type(expr).__name__)
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise SweepError(f"[sweep] filter is not an expression: {e.msg}", node=where, available=expr) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise SweepError(f"[sweep] filter may not use {type(node).__name__}", node=where, available=expr,
                             hint="comparisons, and/or/not, arithmetic, constants and axis names only")
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # "core" of core.neurons
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and id(node) not in inner and _dotted(node) not in names:
            raise SweepError(f"[sweep] filter names {_dotted(node)!r}, which is not an axis of this sweep",
                             node=where, needed="one of " + ", ".join(names), available=_dotted(node))

    def check(values: dict[str, Any]) -> bool:
        try:
            return bool(_eval(tree.body, values))
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise SweepError(f"[sweep] filter fails on point {values}: {e}", node=where, available=expr) from None

    return check


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


_BINOPS: dict[type, Any] = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                            ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b}
_CMPOPS: dict[type, Any] = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
                            ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
                            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def _eval(node: ast.AST, values: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        return values[_dotted(node)]  # type: ignore[index]
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, values) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, values) for v in node.values)
        return any(_eval(v, values) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values)
        return (not v) if isinstance(node.op, ast.Not) else -v
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, values), _eval(node.right, values))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, values)
            if not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    raise SweepError(f"[sweep] filter may not use {type(node).__name__}")
