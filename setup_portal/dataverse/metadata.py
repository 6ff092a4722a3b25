"""Reading an environment's table definitions: EntityDefinitions with their Attributes, the typed
properties each kind of column has only through its cast, and the lookups' navigation properties.

The answer is plain JSON, kept as Dataverse gave it (setup_portal/crm/tables.py reads it), so a
stored copy can be read again by a newer reader without fetching it again:

    {"tables": [<EntityMetadata + "Attributes": [<AttributeMetadata + its cast's properties
                 (+ "OptionSet")>, ...]>, ...],
     "navigation": {"<table>": {"<_x_value>": {"<navigation property>": "<target table>"}}}}

Navigation property names come from `$metadata` (a NavigationProperty whose ReferentialConstraint
names the lookup's `_x_value` property): they are what `<name>@odata.bind` takes, the same names
as ManyToOneRelationships' ReferencingEntityNavigationPropertyName.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api
(querying EntityDefinitions, "Retrieve attributes" with type casts, option sets),
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents
"""

from __future__ import annotations

# The standard parser: expat refuses external entities and (2.4.1+) entity expansion bombs.
from xml.etree import ElementTree

from . import client
from .client import API, DataverseError

ENTITY_SELECT = ("LogicalName,SchemaName,EntitySetName,DisplayName,DisplayCollectionName,IsCustomEntity,IsActivity,"
                 "PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled,OwnershipType,TableType")
ATTRIBUTE_SELECT = ("LogicalName,SchemaName,AttributeType,DisplayName,RequiredLevel,IsValidForCreate,"
                    "IsValidForUpdate,IsValidForRead,IsCustomAttribute,IsPrimaryId,IsPrimaryName,AttributeOf")
# AttributeType -> (cast, the properties only the cast has). Choices come with their OptionSet.
CASTS: dict[str, tuple[str, str]] = {
    "String": ("StringAttributeMetadata", "MaxLength"),
    "Memo": ("MemoAttributeMetadata", "MaxLength"),
    "Integer": ("IntegerAttributeMetadata", "MinValue,MaxValue"),
    "BigInt": ("BigIntAttributeMetadata", "MinValue,MaxValue"),
    "Money": ("MoneyAttributeMetadata", "Precision,MinValue,MaxValue"),
    "Decimal": ("DecimalAttributeMetadata", "Precision,MinValue,MaxValue"),
    "DateTime": ("DateTimeAttributeMetadata", "Format,DateTimeBehavior"),
    "Lookup": ("LookupAttributeMetadata", "Targets"),
    "Customer": ("LookupAttributeMetadata", "Targets"),
    "Owner": ("LookupAttributeMetadata", "Targets"),
    "Picklist": ("PicklistAttributeMetadata", ""),
    "State": ("StateAttributeMetadata", ""),
    "Status": ("StatusAttributeMetadata", ""),
}
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def read_definitions(dynamics_url: str, access_token: str) -> dict:
    """Every table with an entity set, its attributes and their typed properties. Raises DataverseError."""
    base = dynamics_url.rstrip("/") + API
    with client.session_for(dynamics_url) as session:
        def get(path: str, params: dict) -> dict:
            return client.get_url(dynamics_url, access_token, base + path, params=params, session=session)

        data = get("/EntityDefinitions", {"$select": ENTITY_SELECT,
                                          "$expand": f"Attributes($select={ATTRIBUTE_SELECT})"})
        tables = [t for t in data.get("value", []) if isinstance(t, dict) and t.get("EntitySetName")]
        for table in tables:
            _add_cast_properties(table, get)
        navigation = navigation_properties(client.csdl_document(dynamics_url, access_token, session=session))
    return {"tables": tables, "navigation": navigation}


def _add_cast_properties(table: dict, get) -> None:
    """One request per kind of column the table has: the cast's properties merged into each attribute."""
    attributes = {a.get("LogicalName"): a for a in table.get("Attributes") or [] if isinstance(a, dict)}
    casts = {CASTS[a["AttributeType"]] for a in attributes.values() if a.get("AttributeType") in CASTS}
    for cast, properties in sorted(casts):
        path = f"/EntityDefinitions(LogicalName='{table['LogicalName']}')/Attributes/Microsoft.Dynamics.CRM.{cast}"
        params = {"$select": "LogicalName" + (f",{properties}" if properties else "")}
        if not properties:
            params["$expand"] = "OptionSet"
        for typed in get(path, params).get("value", []):
            attribute = attributes.get(typed.get("LogicalName")) if isinstance(typed, dict) else None
            if attribute is not None:
                attribute.update({k: v for k, v in typed.items() if not k.startswith("@")})


def navigation_properties(csdl: bytes) -> dict[str, dict[str, dict[str, str]]]:
    """table -> lookup property (`_x_value`) -> {navigation property: target table}, from `$metadata`."""
    try:
        root = ElementTree.fromstring(csdl)
    except ElementTree.ParseError as exc:
        raise DataverseError(0, "bad_response", f"$metadata is not XML: {exc}") from None
    out: dict[str, dict[str, dict[str, str]]] = {}
    for entity_type in root.iter(f"{EDM}EntityType"):
        for nav in entity_type.iter(f"{EDM}NavigationProperty"):
            target = nav.get("Type", "")
            constraint = nav.find(f"{EDM}ReferentialConstraint")
            if constraint is None or target.startswith("Collection("):
                continue
            lookups = out.setdefault(entity_type.get("Name", ""), {})
            lookups.setdefault(constraint.get("Property", ""), {})[nav.get("Name", "")] = target.rsplit(".", 1)[-1]
    return out
