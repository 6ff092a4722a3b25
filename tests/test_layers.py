"""The parts of `setup_portal` import downward only, in the one order declared here.

Each entry of LAYERS is a part: a package or a module directly under setup_portal/. A part may
import the parts listed before it, never one listed after it, so no two parts can import each
other. Imports inside functions count, and so do the ways of reaching a part without an import
statement (`apps.get_model("instances", …)`, `import_string("setup_portal.…")`). The sandbox is
the stand-in for Microsoft: it imports no portal part, and the portal reaches it only through
`setup_portal.sandbox.info` (where it runs and what to sign in with). The README's table of parts
lists the same parts in the same order.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "setup_portal"

# Bottom to top: (part, what it holds). README.md's "Parts" table follows this order.
LAYERS: tuple[tuple[str, str], ...] = (
    ("sandbox", "the Azure AD + Dataverse stand-in, run as its own process; the portal reads only sandbox.info"),
    ("text", "text every database stores (control characters out), the GUID pattern"),
    ("crypto", "encryption at rest (Fernet) and the encrypted model field"),
    ("redaction", "keeps secrets out of logs and stored bodies"),
    ("forms", "form fields and checks shared by the portal's forms"),
    ("outbound", "the HTTP session for calls leaving the portal (timeouts, CA, loopback and SSRF guard)"),
    ("crm", "the instance API's model-free query layer: where grammar, cursors, tables, bulk checks"),
    ("teams", "teams, memberships, roles; the permission rules (model-free)"),
    ("stats", "per-team counters: the write side, in the same transaction as state changes"),
    ("observability", "metrics, traces, structured logs"),
    ("audit", "append-only audit events and who may read them"),
    ("dataverse", "the Dataverse client: transport, metadata, plug-in registration, URL checks, discovery"),
    ("accounts", "users, the first admin, SSO, group mappings, team pages and verbs"),
    ("events", "event store, Standard Webhooks delivery, notifications"),
    ("azure", "the identity engine: msal client, clouds, AADSTS catalogue, id_token, certificates, flows"),
    ("wizard", "setup stages as objects, stage records, the wizard pages"),
    ("instances", "instance state (the one writer), lifecycle, provisioning, create-instance, instance pages"),
    ("dashboard", "the counters' read side, dashboard pages, paging, seed_instances"),
    ("api", "crm/ (the instance API), keys/ (API keys), rest/ (the management API)"),
    ("polling", "change polling, Dataverse-webhook intake (real-time), reconciliation"),
    ("signin", "the OAuth views: authorize, callback, admin consent, re-authorize"),
    ("views", "the home page and health checks"),
    ("middleware", "the health-check middleware (answers before host checks)"),
    ("error_pages", "error pages in the portal's layout"),
)
ORDER = {name: rank for rank, (name, _) in enumerate(LAYERS)}
SANDBOX_FACE = "setup_portal.sandbox.info"
_DOTTED = re.compile(r"^setup_portal\.([a-z_]+)")


def _part_of(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, dotted module) for every way this file reaches a setup_portal module."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    package = _module_of(path) if path.name == "__init__.py" else _module_of(path)[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from setup_portal import instances` / `from . import info` name modules too.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            first = _literal(node.args[0])
            if first is None:
                continue
            if name == "get_model":
                label = first.split(".")[0]
                found.append((node.lineno, f"setup_portal.{label}"))
            elif name in {"import_string", "import_module"}:
                found.append((node.lineno, first))
    return [(line, module) for line, module in found if module.startswith("setup_portal.")]


def _source_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts and path.relative_to(PACKAGE).parts[0] != "__init__.py":
            yield path


def _is_module(dotted: str) -> bool:
    """Whether a dotted name is a module or package of this code base (not a name inside one)."""
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violations() -> list[str]:
    found: list[str] = []
    for path in _source_files():
        part = _part_of(path)
        where = path.relative_to(ROOT)
        if part not in ORDER:
            found.append(f"{where}: part '{part}' is not declared in LAYERS (tests/test_layers.py)")
            continue
        for line, module in imported_modules(path):
            match = _DOTTED.match(module)
            target = match.group(1) if match else ""
            if not target or target == part or not _is_module(".".join(module.split(".")[:2])):
                continue
            if target not in ORDER:
                found.append(f"{where}:{line}: imports undeclared part '{target}'")
            elif part == "sandbox":
                found.append(f"{where}:{line}: the sandbox imports the portal's '{module}'")
            elif target == "sandbox":
                if module != SANDBOX_FACE and module.rsplit(".", 1)[0] != SANDBOX_FACE:
                    found.append(f"{where}:{line}: reaches into the sandbox ('{module}'); use {SANDBOX_FACE}")
            elif ORDER[target] > ORDER[part]:
                found.append(f"{where}:{line}: {part} imports {target}, which sits above it")
    return list(dict.fromkeys(found))  # `from x import a, b` names x once


def test_every_part_imports_only_parts_below_it():
    assert violations() == []


def test_every_part_on_disk_is_declared_and_every_declared_part_exists():
    on_disk = {_part_of(path) for path in _source_files()}
    assert on_disk == set(ORDER), (sorted(on_disk - set(ORDER)), sorted(set(ORDER) - on_disk))


def test_the_guard_catches_what_it_should():
    """The checks above see an upward import however it is written."""
    source = ("from setup_portal.instances.models import Instance\n"
              "def f():\n"
              "    from setup_portal import wizard\n"
              "    from ..api import gateway\n"
              "    apps.get_model('events', 'Event')\n"
              "    import_string('setup_portal.polling.tasks.poll')\n"
              "from setup_portal.sandbox.state import Store\n"
              "from setup_portal.sandbox.info import sandbox_info\n")
    modules = {module for _, module in imported_modules(PACKAGE / "teams" / "probe.py", source)}
    assert {"setup_portal.instances.models", "setup_portal.wizard", "setup_portal.api.gateway", "setup_portal.events",
            "setup_portal.polling.tasks.poll", "setup_portal.sandbox.state", SANDBOX_FACE} <= modules


def test_the_readme_table_lists_the_parts_in_order():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Parts", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([a-z_]+)", row).group(1) for row in rows]
    assert names == [name for name, _ in reversed(LAYERS)], "README's Parts table: top part first"
