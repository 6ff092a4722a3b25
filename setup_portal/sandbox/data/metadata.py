"""Table and column definitions as the Web API publishes them (EntityDefinitions and their
Attributes), derived from schema.py, and the query options a metadata request may carry.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api
and https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/entitymetadata
(AttributeMetadata, StringAttributeMetadata, PicklistAttributeMetadata, ... EntityType pages).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from . import errors
from .odata_filter import Call, Compare, Literal, Logical, Not, Prop, parse_filter
from .schema import ALL_TABLES, METADATA_NAMESPACE, TABLES, Column, Table

NS = "Microsoft.Dynamics.CRM"
LANGUAGE = 1033
MONEY_LIMIT = 922337203685477
INT32 = 2**31
INT64 = 2**63
# Dataverse's system tables that hold activities.
ACTIVITIES = frozenset({"task", "activitypointer"})

# Properties of each metadata type and their types, in the order Dataverse lists them; $select
# is checked against these, data/csdl.py declares them and the definitions below fill them.
ENTITY_PROPERTIES: dict[str, str] = {
    "MetadataId": "Edm.Guid", "LogicalName": "Edm.String", "SchemaName": "Edm.String",
    "EntitySetName": "Edm.String", "LogicalCollectionName": "Edm.String", "CollectionSchemaName": "Edm.String",
    "PrimaryIdAttribute": "Edm.String", "PrimaryNameAttribute": "Edm.String", "ObjectTypeCode": "Edm.Int32",
    "DisplayName": "mscrm.Label", "DisplayCollectionName": "mscrm.Label", "Description": "mscrm.Label",
    "IsCustomEntity": "Edm.Boolean", "IsManaged": "Edm.Boolean", "IsActivity": "Edm.Boolean",
    "ChangeTrackingEnabled": "Edm.Boolean", "CanChangeTrackingBeEnabled": "mscrm.BooleanManagedProperty",
    "OwnershipType": "Edm.String", "TableType": "Edm.String",
}
ATTRIBUTE_PROPERTIES: dict[str, str] = {
    "MetadataId": "Edm.Guid", "LogicalName": "Edm.String", "SchemaName": "Edm.String",
    "EntityLogicalName": "Edm.String", "AttributeType": "Edm.String",
    "AttributeTypeName": "mscrm.AttributeTypeDisplayName", "DisplayName": "mscrm.Label",
    "Description": "mscrm.Label", "RequiredLevel": "mscrm.AttributeRequiredLevelManagedProperty",
    "IsValidForCreate": "Edm.Boolean", "IsValidForUpdate": "Edm.Boolean", "IsValidForRead": "Edm.Boolean",
    "IsCustomAttribute": "Edm.Boolean", "IsManaged": "Edm.Boolean", "IsPrimaryId": "Edm.Boolean",
    "IsPrimaryName": "Edm.Boolean", "AttributeOf": "Edm.String",
}
# Derived attribute types: their own properties, and the base type they extend.
SUBTYPES: dict[str, tuple[str, dict[str, str]]] = {
    "StringAttributeMetadata": ("AttributeMetadata", {"MaxLength": "Edm.Int32", "Format": "Edm.String"}),
    "MemoAttributeMetadata": ("AttributeMetadata", {"MaxLength": "Edm.Int32", "Format": "Edm.String"}),
    "IntegerAttributeMetadata": ("AttributeMetadata", {"MinValue": "Edm.Int32", "MaxValue": "Edm.Int32",
                                                       "Format": "Edm.String"}),
    "BigIntAttributeMetadata": ("AttributeMetadata", {"MinValue": "Edm.Int64", "MaxValue": "Edm.Int64"}),
    "MoneyAttributeMetadata": ("AttributeMetadata", {"Precision": "Edm.Int32", "PrecisionSource": "Edm.Int32",
                                                     "MinValue": "Edm.Double", "MaxValue": "Edm.Double"}),
    "DecimalAttributeMetadata": ("AttributeMetadata", {"Precision": "Edm.Int32", "MinValue": "Edm.Decimal",
                                                       "MaxValue": "Edm.Decimal"}),
    "BooleanAttributeMetadata": ("AttributeMetadata", {"DefaultValue": "Edm.Boolean"}),
    "DateTimeAttributeMetadata": ("AttributeMetadata", {"Format": "Edm.String",
                                                        "DateTimeBehavior": "mscrm.DateTimeBehavior"}),
    "LookupAttributeMetadata": ("AttributeMetadata", {"Targets": "Collection(Edm.String)"}),
    "UniqueIdentifierAttributeMetadata": ("AttributeMetadata", {}),
    "EnumAttributeMetadata": ("AttributeMetadata", {"DefaultFormValue": "Edm.Int32"}),
    "PicklistAttributeMetadata": ("EnumAttributeMetadata", {}),
    "StateAttributeMetadata": ("EnumAttributeMetadata", {}),
    "StatusAttributeMetadata": ("EnumAttributeMetadata", {}),
}
# Navigation properties a type can $expand.
EXPANDABLE = {"EntityMetadata": {"Attributes"}, "EnumAttributeMetadata": {"OptionSet"}}
OPTION_SET_PROPERTIES: dict[str, str] = {
    "MetadataId": "Edm.Guid", "Name": "Edm.String", "IsGlobal": "Edm.Boolean", "OptionSetType": "Edm.String",
    "Options": "Collection(mscrm.OptionMetadata)",
}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(METADATA_NAMESPACE, ".".join(parts)))


def label(text: str, managed: bool = True) -> dict:
    """A Label: its localized labels (one, in English) and the caller's (the same here)."""
    localized = {"Label": text, "LanguageCode": LANGUAGE, "IsManaged": managed,
                 "MetadataId": _id("label", text), "HasChanged": None}
    return {"LocalizedLabels": [localized] if text else [], "UserLocalizedLabel": localized if text else None}


def _managed(value: object, name: str, can_change: bool = True) -> dict:
    return {"Value": value, "CanBeChanged": can_change, "ManagedPropertyLogicalName": name}


# --- tables ---------------------------------------------------------------------------------
# Definitions are built once per table and column: the schema is fixed while the sandbox runs.
# Callers copy before changing (shape() does).
_entities: dict[str, dict] = {}
_attributes: dict[tuple[str, str], dict] = {}


def forget(logical_name: str) -> None:
    """Build a table's definitions again (it gained a column: customize.py)."""
    _entities.pop(logical_name, None)
    for key in [k for k in _attributes if k[0] == logical_name]:
        del _attributes[key]


def entity(table: Table) -> dict:
    """EntityMetadata of a table (without Attributes)."""
    if table.logical_name not in _entities:
        _entities[table.logical_name] = _entity(table)
    return _entities[table.logical_name]


def _entity(table: Table) -> dict:
    managed = not table.custom
    return {
        "MetadataId": table.id, "LogicalName": table.logical_name, "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set, "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": table.schema_name + "s", "PrimaryIdAttribute": table.primary_key,
        "PrimaryNameAttribute": table.primary_name, "ObjectTypeCode": table.object_type_code,
        "DisplayName": label(table.display_name, managed),
        "DisplayCollectionName": label(table.collection_label or table.display_name, managed),
        "Description": label(""), "IsCustomEntity": table.custom, "IsManaged": managed,
        "IsActivity": table.logical_name in ACTIVITIES, "ChangeTrackingEnabled": table.change_tracking,
        "CanChangeTrackingBeEnabled": _managed(True, "canchangetrackingbeenabled"),
        "OwnershipType": "UserOwned" if "_ownerid_value" in table.by_name else "OrganizationOwned",
        "TableType": "Standard",
    }


# --- columns --------------------------------------------------------------------------------
# kind -> (AttributeType, metadata type); choices and lookups are refined in attribute_type().
KINDS = {"guid": ("Uniqueidentifier", "UniqueIdentifierAttributeMetadata"),
         "string": ("String", "StringAttributeMetadata"), "memo": ("Memo", "MemoAttributeMetadata"),
         "int": ("Integer", "IntegerAttributeMetadata"), "bigint": ("BigInt", "BigIntAttributeMetadata"),
         "money": ("Money", "MoneyAttributeMetadata"), "decimal": ("Decimal", "DecimalAttributeMetadata"),
         "bool": ("Boolean", "BooleanAttributeMetadata"), "datetime": ("DateTime", "DateTimeAttributeMetadata"),
         "date": ("DateTime", "DateTimeAttributeMetadata"), "choice": ("Picklist", "PicklistAttributeMetadata"),
         "lookup": ("Lookup", "LookupAttributeMetadata")}


def attribute_type(column: Column) -> tuple[str, str]:
    """(AttributeType, metadata type name) of a column."""
    if column.name == "statecode":
        return "State", "StateAttributeMetadata"
    if column.name == "statuscode":
        return "Status", "StatusAttributeMetadata"
    if column.kind == "lookup":
        if column.name == "_ownerid_value":
            return "Owner", "LookupAttributeMetadata"
        if column.polymorphic and {"accounts", "contacts"} == set(column.navigation.values()):
            return "Customer", "LookupAttributeMetadata"
    return KINDS[column.kind]


def targets(column: Column) -> list[str]:
    return [ALL_TABLES[t].logical_name for t in dict.fromkeys(column.navigation.values()) if t in ALL_TABLES]


def attribute(table: Table, column: Column) -> dict:
    """AttributeMetadata of a column, with the properties of its derived type."""
    key = (table.logical_name, column.name)
    if key not in _attributes:
        _attributes[key] = _attribute(table, column)
    return _attributes[key]


def _attribute(table: Table, column: Column) -> dict:
    kind, type_name = attribute_type(column)
    managed = not column.custom
    out = {
        "@odata.type": f"#{NS}.{type_name}",
        "MetadataId": _id(table.logical_name, column.attribute), "LogicalName": column.attribute,
        "SchemaName": _schema_name(column), "EntityLogicalName": table.logical_name, "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"}, "DisplayName": label(column.display_name, managed),
        "Description": label(""), "RequiredLevel": _managed(column.required, "canmodifyrequirementlevelsettings"),
        # A read-only table (a view, the system and plug-in registration catalogues) takes no writes at all.
        "IsValidForCreate": column.valid_for_create and not table.read_only,
        "IsValidForUpdate": column.valid_for_update and not table.read_only,
        "IsValidForRead": True, "IsCustomAttribute": column.custom, "IsManaged": managed,
        "IsPrimaryId": column.name == table.primary_key, "IsPrimaryName": column.name == table.primary_name,
        "AttributeOf": None,
    }
    kinds = column.kind
    if kinds in {"string", "memo"}:
        out |= {"MaxLength": column.max_length, "Format": "Text" if kinds == "string" else "TextArea"}
    elif kinds == "int":
        out |= {"MinValue": -INT32, "MaxValue": INT32 - 1, "Format": "None"}
    elif kinds == "bigint":
        out |= {"MinValue": -INT64, "MaxValue": INT64 - 1}
    elif kinds == "money":
        out |= {"Precision": column.precision, "PrecisionSource": 2, "MinValue": -MONEY_LIMIT,
                "MaxValue": MONEY_LIMIT}
    elif kinds == "decimal":
        out |= {"Precision": column.precision, "MinValue": -100000000000, "MaxValue": 100000000000}
    elif kinds == "bool":
        out |= {"DefaultValue": False}
    elif kinds in {"datetime", "date"}:
        behavior = "DateOnly" if kinds == "date" else "UserLocal"
        out |= {"Format": "DateOnly" if kinds == "date" else "DateAndTime", "DateTimeBehavior": {"Value": behavior}}
    elif kinds == "lookup":
        out |= {"Targets": targets(column)}
    elif kinds == "choice":
        out |= {"DefaultFormValue": -1 if column.name != "statecode" else None}
    return out


def _schema_name(column: Column) -> str:
    name = column.attribute
    if column.custom:
        prefix, _, rest = name.partition("_")
        return f"{prefix}_{rest[:1].upper()}{rest[1:]}"
    return name[:1].upper() + name[1:]


def option_set(table: Table, column: Column) -> dict:
    kind, _ = attribute_type(column)
    name = f"{table.logical_name}_{column.attribute}"
    return {
        "MetadataId": _id("optionset", name), "Name": name, "IsGlobal": False, "OptionSetType": kind,
        "Options": [{"Value": value, "Label": label(text, not column.custom), "Description": label(""),
                     **({"State": table.statuses[value].state} if column.name == "statuscode" else {})}
                    for value, text in column.choices.items()],
    }


# --- requests -------------------------------------------------------------------------------
@dataclass
class Options:
    """$select, $filter and $expand of a metadata request, parsed."""

    select: list[str] | None = None
    filter: object = None
    expand: dict[str, Options] | None = None


def properties_of(type_name: str) -> dict[str, str]:
    if type_name == "EntityMetadata":
        return ENTITY_PROPERTIES
    if type_name == "OptionSetMetadata":
        return OPTION_SET_PROPERTIES
    props = dict(ATTRIBUTE_PROPERTIES)
    chain = []
    while type_name in SUBTYPES:
        chain.append(type_name)
        type_name = SUBTYPES[type_name][0]
    for name in reversed(chain):
        props |= SUBTYPES[name][1]
    return props


def expandable(type_name: str) -> set[str]:
    names = set(EXPANDABLE.get(type_name, set()))
    while type_name in SUBTYPES:
        type_name = SUBTYPES[type_name][0]
        names |= EXPANDABLE.get(type_name, set())
    return names


ENUM_LITERAL = re.compile(r"Microsoft\.Dynamics\.CRM\.[A-Za-z]+'([^']*)'")
_OPTION = re.compile(r"\$(select|filter|expand)=")


def parse_options(raw: dict[str, str], type_name: str) -> Options:
    """Options for a request on `type_name` (EntityMetadata, AttributeMetadata or a derived type)."""
    options = Options()
    props = properties_of(type_name)
    for name, value in raw.items():
        if name == "$select":
            options.select = [n.strip() for n in value.split(",") if n.strip()]
            for prop in options.select:
                if prop not in props:
                    raise errors.unknown_property(prop, f"{NS}.{type_name}")
        elif name == "$filter":
            # Enumeration literals (Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist') compare as their names.
            options.filter = parse_filter(ENUM_LITERAL.sub(r"'\1'", value))
        elif name == "$expand":
            options.expand = _parse_expand(value, type_name)
        else:
            raise errors.bad_query(f"The query parameter {name} is not supported for metadata queries.")
    return options


def _parse_expand(text: str, type_name: str) -> dict[str, Options]:
    """`Attributes($select=LogicalName;$filter=...)`, `OptionSet`; several separated by commas."""
    out: dict[str, Options] = {}
    for item in _split(text, ","):
        name, paren, inner = item.strip().partition("(")
        name = name.strip()
        if name not in expandable(type_name):
            raise errors.unknown_property(name, f"{NS}.{type_name}")
        target = "AttributeMetadata" if name == "Attributes" else "OptionSetMetadata"
        nested: dict[str, str] = {}
        if paren:
            if not inner.endswith(")"):
                raise errors.bad_query(f"Syntax error in $expand: '{text[:200]}'.")
            for part in _split(inner[:-1], ";"):
                key, eq, value = part.strip().partition("=")
                if not eq or key not in {"$select", "$filter"}:
                    raise errors.bad_query(f"The option '{key}' is not supported inside $expand.")
                nested[key] = value
        out[name] = parse_options(nested, target)
    return out


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, []
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def matches(node: object, record: dict, type_name: str) -> bool:
    """Does a definition pass a parsed $filter? Properties may be paths (`CanChangeTrackingBeEnabled/Value`)."""
    if node is None:
        return True
    if isinstance(node, Logical):
        results = (matches(part, record, type_name) for part in node.parts)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not matches(node.operand, record, type_name)
    if isinstance(node, Compare):
        left, right = _value(node.left, record, type_name), _value(node.right, record, type_name)
        if node.op == "eq":
            return left == right
        if node.op == "ne":
            return left != right
        if left is None or right is None:
            return False
        try:
            return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[node.op]
        except TypeError:
            raise errors.bad_query("A binary operator with incompatible types was detected.") from None
    if isinstance(node, Call):
        args = [_value(a, record, type_name) for a in node.args]
        if len(args) != 2 or not all(isinstance(a, str) for a in args):
            raise errors.bad_query(f"The function '{node.name}' needs two text arguments.")
        text, part = args
        return {"contains": part in text, "startswith": text.startswith(part), "endswith": text.endswith(part)}[
            node.name]
    raise errors.bad_query("The $filter expression must be a condition.")


def _value(node: object, record: dict, type_name: str) -> object:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Prop):
        first, *rest = node.name.split("/")
        if first not in properties_of(type_name):
            raise errors.unknown_property(first, f"{NS}.{type_name}")
        value = record.get(first)
        for step in rest:
            value = value.get(step) if isinstance(value, dict) else None
        return value
    raise errors.bad_query("The $filter expression must compare properties with values.")


def shape(record: dict, options: Options, expanded: dict[str, object] | None = None) -> dict:
    """A definition with only the selected properties (the key always) and the expanded ones."""
    if options.select is None:
        out = dict(record)
    else:
        out = {k: v for k, v in record.items() if k in options.select or k in {"@odata.type", "MetadataId"}}
    out.update(expanded or {})
    return out


def tables() -> list[Table]:
    """Every table EntityDefinitions lists: the data's and the system tables they point at."""
    return sorted(ALL_TABLES.values(), key=lambda t: t.logical_name)


def find_table(key: str) -> Table | None:
    """`LogicalName='account'` or a MetadataId."""
    name = key.partition("=")[2].strip("'") if key.startswith("LogicalName=") else None
    for table in ALL_TABLES.values():
        if (name is not None and table.logical_name == name) or (name is None and table.id == key.lower()):
            return table
    return None


def find_column(table: Table, key: str) -> Column | None:
    name = key.partition("=")[2].strip("'") if key.startswith("LogicalName=") else None
    for column in table.columns:
        if (name is not None and column.attribute == name) or \
                (name is None and _id(table.logical_name, column.attribute) == key.lower()):
            return column
    return None


def served(table: Table) -> bool:
    return table.entity_set in TABLES
