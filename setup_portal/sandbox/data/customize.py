"""A custom column added while the sandbox runs (`POST /_sandbox/dataverse/columns`), as a maker adds
one in Power Apps: the table's definition gains it (EntityDefinitions, `$metadata`), and so does every
environment's store. It lasts until the sandbox stops; a store file that gained one is rebuilt on the
next start, from the schema in code.

Reference: https://learn.microsoft.com/power-apps/maker/data-platform/create-edit-field-portal
"""

from __future__ import annotations

import dataclasses
import re

from . import csdl, metadata
from .schema import ALL_TABLES, PUBLISHER, SQL_TYPES, TABLES, Column

KINDS = ("string", "memo", "int", "money", "decimal", "bool", "date", "datetime", "choice")
NAME = re.compile(rf"{PUBLISHER.prefix}_[a-z][a-z0-9]{{0,40}}")


def add_column(stores: list, entity_set: str, spec: dict) -> Column:
    """The column `spec` describes (`name`, `kind`, optional `label`, `max_length`, `choices` as labels)
    added to the table; ValueError for anything the hook does not take."""
    table = TABLES.get(entity_set)
    if table is None or table.source or any(t.source == entity_set for t in TABLES.values()):
        raise ValueError(f"columns can be added to one of {', '.join(n for n, t in TABLES.items() if not t.source)}")
    name, kind = spec.get("name"), spec.get("kind")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(f"name must be the publisher's prefix, an underscore and lower-case letters or digits "
                         f"({PUBLISHER.prefix}_rating)")
    if name in table.by_name:
        raise ValueError(f"{entity_set} already has {name}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    labels = spec.get("choices") or []
    if kind == "choice" and (not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels)):
        raise ValueError("a choice column takes choices: a list of labels")
    max_length = spec.get("max_length", 100 if kind in {"string", "memo"} else 0)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or not 0 <= max_length <= 4000:
        raise ValueError("max_length must be a number from 0 to 4000")
    column = Column(name, kind, max_length=max_length, label=str(spec.get("label") or ""), custom=True,
                    choices={PUBLISHER.option(i): label for i, label in enumerate(labels)} if kind == "choice" else {})
    changed = dataclasses.replace(table, columns=(*table.columns, column))
    TABLES[entity_set] = ALL_TABLES[entity_set] = changed
    metadata.forget(table.logical_name)
    csdl.document.cache_clear()
    for store in stores:
        with store.transaction() as conn:
            conn.execute(f'ALTER TABLE "{entity_set}" ADD COLUMN "{name}" {SQL_TYPES[kind]}')
            conn.execute("UPDATE meta SET value = 'customized' WHERE key = 'schema'")
    return column
