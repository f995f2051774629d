"""All SQL of the trainer lives in the monitor store package: no string literal elsewhere
under trainer/ holds an SQL statement (the schema is the store's to change)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
STORE = REPO / "trainer" / "monitor" / "store"
SQL = re.compile(r"\bSELECT\b.+\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
                 r"|\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|INDEX|VIEW)\b|\bPRAGMA\s+\w+"
                 r"|\bALTER\s+TABLE\b|\bDROP\s+(TABLE|INDEX)\b|\bjson_extract\(", re.DOTALL)


def _sql_literals(path: Path) -> list[str]:
    """SQL-looking string constants (f-string parts too) of one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:60]!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and SQL.search(node.value)]


def test_no_sql_outside_the_store_package() -> None:
    found = [hit for path in sorted((REPO / "trainer").rglob("*.py"))
             if STORE not in path.parents for hit in _sql_literals(path)]
    assert found == []


def test_the_check_recognises_the_store_s_own_sql() -> None:
    """Guards the pattern: the store's queries, f-strings included, are found."""
    hits = [hit for path in sorted(STORE.rglob("*.py")) for hit in _sql_literals(path)]
    assert any("reads.py" in h and "SELECT" in h for h in hits)
    assert any("writer.py" in h and "INSERT" in h for h in hits)
    assert any("schema.py" in h and "CREATE TABLE" in h for h in hits)


def test_the_store_imports_nothing_of_the_monitor_outside_itself() -> None:
    """The monitor depends on the store, never the other way (a backend stays replaceable)."""
    outside = []
    for path in sorted(STORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            outside += [f"{path.relative_to(REPO)}: {n}" for n in names
                        if n.startswith("trainer.") and not n.startswith("trainer.monitor.store")]
    assert outside == []
