"""Each rule has one owner: checked over the source of `stagepact/`, so that a rule
spelled a second time fails here before review has to find it.

- Only `workflow` writes a case's status.
- Only `scoping` filters cases, audit events or staff accounts by institution; the
  batch jobs that go through one institution at a time are listed with their reason.
- A domain module imports no module with routes (views import the domain, not back).
- The model modules import only `models.base` at run time: no cycle as they grow.
- A domain module never commits: the view or the command that called it does, once.
  Views are the modules that define routes, and the commands are in `cli.py`; the
  batch jobs that commit per item (so that one failure loses nothing else) are listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stagepact"

# Modules that go through every institution in a batch, not for a user who asked.
INSTITUTION_FILTERS_ALLOWED = {
    "retention.py": "erases each institution's closed cases after its own retention period",
    "demo.py": "fills each demo institution with demo cases",
}
# Batch jobs that commit after each item, so that one failure loses nothing else.
COMMITS_ALLOWED = {
    "outbox.py": "sends mail one by one; each sent mail is committed as sent",
    "key_rotation.py": "re-encrypts in batches, committing each batch",
    "jobs.py": "the scheduled jobs: each commits its work, case by case where it erases",
    "preflight.py": "the first start on a database records the secrets it was made with",
    "database.py": "a new connection's timeouts are set, and committed, as it is made",
}
SCOPED_MODELS = {"Case", "AuditEvent", "User"}


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        found.append((name, ast.parse(path.read_text(encoding="utf-8"), filename=name)))
    assert len(found) > 40
    return found


MODULES = _modules()


def _defines_routes(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        for decorator in getattr(node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in {"route", "get", "post"}:
                return True
    return False


def _status_writes(tree: ast.Module) -> list[int]:
    """Lines that write a case's status: an assignment to `<case>.status`, `status=` in
    `Case(...)` or an UPDATE's `.values(...)`, or `setattr(x, "status", ...)`."""
    lines = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr == "status":
                owner = ast.unparse(target.value).lower()
                if "investigation" not in owner:  # an investigation's own steps
                    lines.append(node.lineno)
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            keywords = {k.arg for k in node.keywords}
            if "status" in keywords and (called == "Case" or called.endswith(".values")):
                lines.append(node.lineno)
            if called == "setattr" and len(node.args) > 1:
                name = node.args[1]
                if isinstance(name, ast.Constant) and name.value == "status":
                    lines.append(node.lineno)
    return lines


def _institution_filters(tree: ast.Module) -> list[int]:
    """Lines that compare `Case.institution_id`, `AuditEvent.institution_id` or
    `User.institution_id` (the column, so SQL) with something."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            if (
                isinstance(side, ast.Attribute)
                and side.attr == "institution_id"
                and isinstance(side.value, ast.Name)
                and side.value.id in SCOPED_MODELS
            ):
                lines.append(node.lineno)
    for node in ast.walk(tree):  # `.in_(...)` and the like on the column filter too
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"in_", "is_", "not_in"}
            and ast.unparse(node.func.value) in {f"{m}.institution_id" for m in SCOPED_MODELS}
        ):
            lines.append(node.lineno)
    return lines


def _commits(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def test_only_the_workflow_writes_a_case_status():
    found = {
        name: lines
        for name, tree in MODULES
        if not name.startswith("workflow/") and (lines := _status_writes(tree))
    }
    assert found == {}, "write Case.status through stagepact.workflow"


def test_only_scoping_filters_by_institution():
    found = {
        name: lines
        for name, tree in MODULES
        if name not in {"scoping.py", *INSTITUTION_FILTERS_ALLOWED}
        and (lines := _institution_filters(tree))
    }
    assert found == {}, "build the institution filter in stagepact.scoping"


def test_a_domain_module_never_commits():
    found = {
        name: lines
        for name, tree in MODULES
        if name != "cli.py"
        and name not in COMMITS_ALLOWED
        and not _defines_routes(tree)
        and (lines := _commits(tree))
    }
    assert found == {}, "commit in the view or command that called the domain function"


def _imported(name: str, tree: ast.Module) -> set[str]:
    """The modules of the package that `name` imports, as paths like `workflow.py`."""
    package = Path(name).parent
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.parent
        parts = [p for p in (node.module or "").split(".") if p]
        candidates = (
            [base.joinpath(*parts, alias.name) for alias in node.names] if not parts else []
        )
        candidates.append(base.joinpath(*parts))
        for candidate in candidates:
            for path in (f"{candidate.as_posix()}.py", f"{candidate.as_posix()}/__init__.py"):
                found.add(path.removeprefix("./"))
    return found


def test_the_domain_imports_no_module_with_routes():
    blueprints = {
        Path(name).parent.as_posix()
        for name, tree in MODULES
        if name.endswith("/__init__.py") and "Blueprint(" in ast.unparse(tree)
    }
    views = {
        name
        for name, tree in MODULES
        if _defines_routes(tree) or Path(name).parent.as_posix() in blueprints
    }
    assert {"language.py", "auth.py", "desk/routes.py", "desk/forms.py"} <= views
    found = {
        name: sorted(_imported(name, tree) & views)
        for name, tree in MODULES
        if name not in views
        and name not in {"__init__.py", "cli.py"}
        and _imported(name, tree) & views
    }
    assert found == {}, "move the rule the domain needs out of the module with routes"


def _runtime_sibling_imports(tree: ast.Module) -> list[str]:
    """The sibling modules (`from .x import ...`) a module imports when it runs, leaving
    out the imports under `if TYPE_CHECKING:`."""
    return [
        node.module or ""
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
    ]


def test_the_model_modules_import_only_their_base_at_run_time():
    """Relationships name their classes as strings, so no import cycle can appear
    between the model modules as they grow."""
    found = {
        name: imports
        for name, tree in MODULES
        if name.startswith("models/")
        and name != "models/__init__.py"
        and (imports := [m for m in _runtime_sibling_imports(tree) if m != "base"])
    }
    assert found == {}, "name the related class as a string, import it under TYPE_CHECKING"


def test_no_test_module_imports_another():
    """What several test modules share lives in a helper module (`helpers`, `factories`,
    `route_world`, `uploads`, ...), so that a test module can change or go on its own."""
    tests = Path(__file__).resolve().parent
    found = {}
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            for module in modules:
                if module.split(".")[-1].startswith("test_"):
                    found.setdefault(path.relative_to(tests).as_posix(), []).append(module)
    assert found == {}, "move what is shared into a helper module of tests/"


@pytest.mark.parametrize(
    ("check", "source"),
    [
        (_status_writes, "case.status = Status.CLOSED"),
        (_status_writes, "db.session.execute(sa.update(Case).values(status='closed'))"),
        (_status_writes, "setattr(case, 'status', 'closed')"),
        (_institution_filters, "sa.select(Case).where(Case.institution_id == user.institution_id)"),
        (_institution_filters, "q.where(AuditEvent.institution_id.in_(ids))"),
        (_commits, "db.session.commit()"),
        (_runtime_sibling_imports, "from .case import Case"),
    ],
)
def test_the_checks_find_what_they_look_for(check, source):
    assert len(check(ast.parse(source))) == 1


def test_an_import_for_type_checking_only_is_not_a_run_time_import():
    source = "if TYPE_CHECKING:\n    from .case import Case\nfrom .base import utcnow"
    assert _runtime_sibling_imports(ast.parse(source)) == ["base"]
