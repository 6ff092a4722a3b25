"""An environment's tables as the instance API sees them, read from its metadata.

`Catalogue.from_definitions()` turns what setup_portal/dataverse/metadata.py read (EntityDefinitions,
attributes with their casts, navigation properties) into `Table`s: logical name, entity set,
display name, custom or not, primary id and name, change tracking, writable, and one `Field` per
column with its type and constraints. A table's `resource` is what the query layer (query.py,
cursor.py, resources.py's conversions) works on: every column by its logical name, the key as `id`.
The seven friendly resources (resources.py) are aliases on top: `Catalogue.resource("accounts")`
gives their camelCase fields plus, by column name, every column they do not alias.

Everything else (the objects endpoints, the OpenAPI document, bulk writes, event polling) reads
these descriptions; nothing here touches the database or the network.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from functools import cached_property

from .resources import RESOURCES, Field, Resource

# AttributeType -> the API's field type. Types not listed (Virtual, EntityName, PartyList, Image, File,
# ManagedProperty...) are left out: the Web API cannot filter or write them like plain columns.
FIELD_TYPES = {
    "String": "string", "Memo": "string", "Integer": "int", "BigInt": "int", "Money": "decimal",
    "Decimal": "decimal", "Double": "decimal", "Boolean": "bool", "DateTime": "datetime",
    "Uniqueidentifier": "guid", "Picklist": "int", "State": "int", "Status": "int",
    "Lookup": "lookup", "Customer": "lookup", "Owner": "lookup",
}
# Tables Dataverse lets no one create rows in through the Web API (activities are made as their own type).
READ_ONLY_TABLES = frozenset({"activitypointer"})


def _label(value: object) -> str:
    """The user's localized text of a Label (`{"UserLocalizedLabel": {"Label": ...}}`), or ''."""
    if isinstance(value, dict):
        user = value.get("UserLocalizedLabel")
        if isinstance(user, dict) and isinstance(user.get("Label"), str):
            return user["Label"]
        for localized in value.get("LocalizedLabels") or []:
            if isinstance(localized, dict) and isinstance(localized.get("Label"), str):
                return localized["Label"]
    return ""


def _managed(value: object) -> object:
    return value.get("Value") if isinstance(value, dict) else value


@dataclass(frozen=True)
class Table:
    logical_name: str
    entity_set: str
    display_name: str
    collection_name: str
    custom: bool
    primary_id: str
    primary_name: str
    change_tracking: bool
    writable: bool
    fields: tuple[Field, ...] = field(repr=False)

    @cached_property
    def resource(self) -> Resource:
        """The table for the query layer: `id` (the key) first, then every column by its logical name."""
        key = next((f for f in self.fields if f.column == self.primary_id), None)
        id_field = Field("id", self.primary_id, "guid", read_only=not self.writable, label=key.label if key else "",
                         kind="Uniqueidentifier")
        others = tuple(f for f in self.fields if f.column != self.primary_id)
        if not self.writable:
            others = tuple(_read_only(f) for f in others)
        return Resource(self.logical_name, self.entity_set, self.primary_id, self.writable, (id_field, *others))

    def summary(self) -> dict:
        return {"name": self.logical_name, "entitySet": self.entity_set, "displayName": self.display_name,
                "custom": self.custom, "primaryIdField": self.primary_id, "primaryNameField": self.primary_name,
                "changeTracking": self.change_tracking, "writable": self.writable}


def _read_only(f: Field) -> Field:
    return dataclasses.replace(f, read_only=True)


class UnknownTable(LookupError):
    def __init__(self, name: str, closest: list[str]):
        super().__init__(name)
        self.name = name
        self.closest = closest


class Catalogue:
    """The tables of one environment, found by logical name, entity set name or friendly alias."""

    def __init__(self, tables: list[Table]):
        self.tables = sorted(tables, key=lambda t: t.logical_name)
        self._by_name: dict[str, Table] = {}
        for table in self.tables:
            self._by_name.setdefault(table.entity_set, table)
            self._by_name.setdefault(table.logical_name, table)
        self._aliases: dict[str, Resource] = {}

    @classmethod
    def from_definitions(cls, definitions: dict) -> Catalogue:
        raw_tables = [t for t in definitions.get("tables") or [] if isinstance(t, dict)]
        entity_sets = {t.get("LogicalName"): t.get("EntitySetName") for t in raw_tables}
        navigation = definitions.get("navigation") or {}
        return cls([_table(t, entity_sets, navigation.get(t.get("LogicalName"), {})) for t in raw_tables])

    def table(self, name: str) -> Table | None:
        """A table by logical name or entity set name; a friendly alias names its table's entity set."""
        alias = RESOURCES.get(name)
        return self._by_name.get(alias.entity_set if alias else name)

    def resource(self, name: str) -> Resource:
        """What the API serves at /<name>: a friendly resource with every other column of its table, or
        a table by logical or entity set name. UnknownTable when there is none."""
        alias = RESOURCES.get(name)
        if alias is not None:
            if name not in self._aliases:
                self._aliases[name] = _with_columns(alias, self._by_name.get(alias.entity_set))
            return self._aliases[name]
        table = self._by_name.get(name)
        if table is None:
            raise UnknownTable(name, self.closest(name))
        return table.resource

    @property
    def names(self) -> list[str]:
        return [t.logical_name for t in self.tables]

    def closest(self, name: str) -> list[str]:
        candidates = [*RESOURCES, *self._by_name]
        return list(dict.fromkeys(difflib.get_close_matches(name.lower(), candidates, n=3, cutoff=0.6)))


def _with_columns(alias: Resource, table: Table | None) -> Resource:
    """A friendly resource, its hand-picked fields first, then its table's columns it does not alias."""
    if table is None:
        return alias
    columns = {f.column: f for f in table.resource.fields if f.name != "id"}
    # The hand-picked fields keep their names, types and rules, and gain the column's metadata (choices,
    # length, range, label).
    own = tuple(dataclasses.replace(columns[f.column], name=f.name, type=f.type, read_only=f.read_only,
                                    sortable=f.sortable, navigation=f.navigation or columns[f.column].navigation)
                if f.column in columns else f for f in alias.fields)
    extra = tuple(f for column, f in columns.items() if column not in {f.column for f in alias.fields})
    if not alias.writable:
        extra = tuple(_read_only(f) for f in extra)
    return Resource(alias.name, alias.entity_set, alias.key, alias.writable, (*own, *extra), defaults=len(own),
                    label=alias.label, logical_name=alias.logical_name)


def _table(raw: dict, entity_sets: dict, navigation: dict) -> Table:
    logical = str(raw.get("LogicalName") or "")
    attributes = [a for a in raw.get("Attributes") or [] if isinstance(a, dict)]
    writable = logical not in READ_ONLY_TABLES and any(
        a.get("IsValidForCreate") or a.get("IsValidForUpdate") for a in attributes)
    fields = tuple(f for f in (_field(a, entity_sets, navigation) for a in attributes) if f is not None)
    return Table(
        logical_name=logical, entity_set=str(raw.get("EntitySetName") or ""),
        display_name=_label(raw.get("DisplayName")) or logical,
        collection_name=_label(raw.get("DisplayCollectionName")) or _label(raw.get("DisplayName")) or logical,
        custom=bool(raw.get("IsCustomEntity")), primary_id=str(raw.get("PrimaryIdAttribute") or ""),
        primary_name=str(raw.get("PrimaryNameAttribute") or ""),
        change_tracking=bool(raw.get("ChangeTrackingEnabled")), writable=writable,
        fields=tuple(sorted(fields, key=lambda f: (f.column != raw.get("PrimaryIdAttribute"), f.name))))


def _field(raw: dict, entity_sets: dict, navigation: dict) -> Field | None:
    kind = str(raw.get("AttributeType") or "")
    name = raw.get("LogicalName")
    if kind not in FIELD_TYPES or not isinstance(name, str) or raw.get("AttributeOf") or \
            raw.get("IsValidForRead") is False:
        return None
    create, update = bool(raw.get("IsValidForCreate")), bool(raw.get("IsValidForUpdate"))
    common = {"label": _label(raw.get("DisplayName")), "kind": kind, "required": str(_managed(raw.get("RequiredLevel"))
                                                                                       or "None"),
              "read_only": not (create or update), "create_only": create and not update}
    if kind in FIELD_TYPES and FIELD_TYPES[kind] == "lookup":
        column = f"_{name}_value"
        navs = navigation.get(column) or {}
        targets = [t for t in raw.get("Targets") or [] if isinstance(t, str)]
        sets = {t: entity_sets.get(t) or f"{t}s" for t in {*targets, *navs.values()}}
        return Field(name, column, "lookup", sortable=False,
                     navigation={nav: sets[target] for nav, target in navs.items()},
                     target_names={entity_set: logical for logical, entity_set in sets.items()}, **common)
    field_type = FIELD_TYPES[kind]
    if kind == "DateTime" and ("DateOnly" in {_managed(raw.get("DateTimeBehavior")), raw.get("Format")}):
        field_type = "date"
    options = (raw.get("OptionSet") or {}).get("Options") or []
    return Field(
        name, name, field_type, sortable=kind != "Memo",
        max_length=int(raw.get("MaxLength") or 0), minimum=_number(raw.get("MinValue")),
        maximum=_number(raw.get("MaxValue")),
        precision=raw.get("Precision") if isinstance(raw.get("Precision"), int) else None,
        choices=tuple((o["Value"], _label(o.get("Label"))) for o in options
                      if isinstance(o, dict) and isinstance(o.get("Value"), int)),
        **common)


def _number(value: object) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def describe_field(f: Field) -> dict:
    """A field as `objects/<name>/metadata` lists it."""
    return {
        "name": f.name, "column": f.attribute, "label": f.label, "type": f.type, "attributeType": f.kind or None,
        "requiredLevel": f.required or None, "maxLength": f.max_length or None, "precision": f.precision,
        "minValue": f.minimum, "maxValue": f.maximum, "readOnly": f.read_only, "createOnly": f.create_only,
        "filterable": True, "sortable": f.sortable,
        "choices": [{"value": value, "label": label} for value, label in f.choices] or None,
        "targets": sorted({f.target_name(t) for t in f.navigation.values()}) or None,
    }
