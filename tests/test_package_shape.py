"""The package's shape rules: small modules, few positional parameters (the stage
order is read from its one table in tests/test_stages.py)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "companion"
MODULES = sorted(PACKAGE.rglob("*.py"))


def positional(function: ast.FunctionDef) -> int:
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    return len([n for n in names if n not in ("self", "cls")])


def test_no_module_is_over_400_lines():
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines())
             for p in MODULES}
    assert max(sizes.values()) <= 400, {m: n for m, n in sizes.items() if n > 400}


def test_no_public_function_takes_more_than_6_positional_parameters():
    wide = [f"{p.name}:{node.name} ({positional(node)})" for p in MODULES
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
            and positional(node) > 6]
    assert not wide, f"make the later parameters keyword-only (after *): {wide}"


def test_the_rule_catches_a_wide_function():
    wide = ast.parse("def f(a, b, c, d, e, f, g): pass").body[0]
    narrow = ast.parse("def f(a, b, c, d, e, f, *, g): pass").body[0]
    method = ast.parse("def f(self, a, b, c, d, e, f): pass").body[0]
    assert positional(wide) == 7 and positional(narrow) == 6 and positional(method) == 6
