"""The CSDL $metadata document and the service document, derived from schema.py and
metadata.py: what they declare is what the data service answers.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents
and https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-types-operations;
OData CSDL XML 4.0: https://docs.oasis-open.org/odata/odata-csdl-xml/v4.01/odata-csdl-xml-v4.01.html
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache

from . import metadata
from .schema import ALL_TABLES, REGISTRATION_TABLES, TABLES, Column, Table

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
CORE = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml"
CAPABILITIES = "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"
# Entity sets outside the tables: organizations (views/dataverse.py) and the table definitions.
EXTRA_SETS = {"organizations": "mscrm.organization", "EntityDefinitions": "mscrm.EntityMetadata"}
COMPLEX_TYPES: dict[str, dict[str, str]] = {
    "LocalizedLabel": {"Label": "Edm.String", "LanguageCode": "Edm.Int32", "IsManaged": "Edm.Boolean",
                       "MetadataId": "Edm.Guid", "HasChanged": "Edm.Boolean"},
    "Label": {"LocalizedLabels": "Collection(mscrm.LocalizedLabel)", "UserLocalizedLabel": "mscrm.LocalizedLabel"},
    "BooleanManagedProperty": {"Value": "Edm.Boolean", "CanBeChanged": "Edm.Boolean",
                               "ManagedPropertyLogicalName": "Edm.String"},
    "AttributeRequiredLevelManagedProperty": {"Value": "Edm.String", "CanBeChanged": "Edm.Boolean",
                                              "ManagedPropertyLogicalName": "Edm.String"},
    "AttributeTypeDisplayName": {"Value": "Edm.String"},
    "DateTimeBehavior": {"Value": "Edm.String"},
    "OptionMetadata": {"Value": "Edm.Int32", "Label": "mscrm.Label", "Description": "mscrm.Label",
                       "State": "Edm.Int32"},
    "WhoAmIResponse": {"BusinessUnitId": "Edm.Guid", "UserId": "Edm.Guid", "OrganizationId": "Edm.Guid"},
    "EndpointCollection": {"Count": "Edm.Int32", "IsReadOnly": "Edm.Boolean", "Keys": "Collection(Edm.String)",
                           "Values": "Collection(Edm.String)"},
    "OrganizationDetail": {"OrganizationId": "Edm.Guid", "FriendlyName": "Edm.String",
                           "OrganizationVersion": "Edm.String", "EnvironmentId": "Edm.String", "Geo": "Edm.String",
                           "TenantId": "Edm.String", "UrlName": "Edm.String", "UniqueName": "Edm.String",
                           "State": "Edm.String", "DatacenterId": "Edm.String",
                           "Endpoints": "mscrm.EndpointCollection"},
    "RetrieveCurrentOrganizationResponse": {"Detail": "mscrm.OrganizationDetail"},
    "CreateMultipleResponse": {"Ids": "Collection(Edm.Guid)"},
    "UpsertMultipleResponse": {"Results": "Collection(mscrm.UpsertMultipleResult)"},
    "UpsertMultipleResult": {"RecordCreated": "Edm.Boolean", "Id": "Edm.Guid"},
}


def _el(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{EDM}}}{tag}", {k: v for k, v in attrs.items() if v is not None})


def partner(source: Table, column: Column, target: Table) -> str:
    """Name of the collection-valued navigation property on the target (the relationship's)."""
    return f"{source.logical_name}_{column.attribute}_{target.logical_name}"


def _property(parent: ET.Element, column: Column, table: Table) -> None:
    attrs = {"Name": column.name, "Type": column.edm_type}
    if column.name == table.primary_key:
        attrs["Nullable"] = "false"
    if column.kind in {"string", "memo"} and column.max_length:
        attrs["MaxLength"] = str(column.max_length)
    if column.kind in {"money", "decimal"}:
        attrs["Scale"] = "Variable"
    prop = _el(parent, "Property", **attrs)
    if column.read_only:
        _el(prop, "Annotation", Term="Org.OData.Core.V1.Computed", Bool="true")


def _entity_type(schema: ET.Element, table: Table, partners: dict[str, list[tuple[str, Table, str]]]) -> None:
    node = _el(schema, "EntityType", Name=table.logical_name, BaseType="mscrm.crmbaseentity")
    _el(_el(node, "Key"), "PropertyRef", Name=table.primary_key)
    for column in table.columns:
        _property(node, column, table)
    for column in table.columns:
        for prop, target_set in column.navigation.items():
            target = ALL_TABLES[target_set]
            nav = _el(node, "NavigationProperty", Name=prop, Type=f"mscrm.{target.logical_name}",
                      Partner=partner(table, column, target))
            _el(nav, "ReferentialConstraint", Property=column.name, ReferencedProperty=target.primary_key)
    for name, source, prop in partners.get(table.entity_set, []):
        _el(node, "NavigationProperty", Name=name, Type=f"Collection(mscrm.{source.logical_name})", Partner=prop)


def _metadata_types(schema: ET.Element) -> None:
    base = _el(schema, "EntityType", Name="MetadataBase", Abstract="true")
    _el(_el(base, "Key"), "PropertyRef", Name="MetadataId")
    _el(base, "Property", Name="MetadataId", Type="Edm.Guid", Nullable="false")
    declared = {"MetadataId"}
    entity = _el(schema, "EntityType", Name="EntityMetadata", BaseType="mscrm.MetadataBase")
    for name, edm in metadata.ENTITY_PROPERTIES.items():
        if name not in declared:
            _el(entity, "Property", Name=name, Type=edm)
    _el(entity, "NavigationProperty", Name="Attributes", Type="Collection(mscrm.AttributeMetadata)",
        Partner="EntityMetadata", ContainsTarget="true")
    attribute = _el(schema, "EntityType", Name="AttributeMetadata", BaseType="mscrm.MetadataBase")
    for name, edm in metadata.ATTRIBUTE_PROPERTIES.items():
        if name not in declared:
            _el(attribute, "Property", Name=name, Type=edm)
    _el(attribute, "NavigationProperty", Name="EntityMetadata", Type="mscrm.EntityMetadata", Partner="Attributes")
    for name, (parent, props) in metadata.SUBTYPES.items():
        node = _el(schema, "EntityType", Name=name, BaseType=f"mscrm.{parent}")
        for prop, edm in props.items():
            _el(node, "Property", Name=prop, Type=edm)
        if name == "EnumAttributeMetadata":
            _el(node, "NavigationProperty", Name="OptionSet", Type="mscrm.OptionSetMetadata", ContainsTarget="true")
    option_set = _el(schema, "EntityType", Name="OptionSetMetadata", BaseType="mscrm.MetadataBase")
    for name, edm in metadata.OPTION_SET_PROPERTIES.items():
        if name not in declared:
            _el(option_set, "Property", Name=name, Type=edm)


def _operations(schema: ET.Element) -> None:
    enum = _el(schema, "EnumType", Name="EndpointAccessType")
    for value, name in enumerate(("Default", "Internet", "Intranet")):
        _el(enum, "Member", Name=name, Value=str(value))
    whoami = _el(schema, "Function", Name="WhoAmI")
    _el(whoami, "ReturnType", Type="mscrm.WhoAmIResponse", Nullable="false")
    org = _el(schema, "Function", Name="RetrieveCurrentOrganization")
    _el(org, "Parameter", Name="AccessType", Type="mscrm.EndpointAccessType", Nullable="false")
    _el(org, "ReturnType", Type="mscrm.RetrieveCurrentOrganizationResponse", Nullable="false")
    # The bulk operations, bound to an entity set (a collection of crmbaseentity), as Dataverse declares them.
    for name, returns in (("CreateMultiple", "mscrm.CreateMultipleResponse"), ("UpdateMultiple", None),
                          ("UpsertMultiple", "mscrm.UpsertMultipleResponse")):
        action = _el(schema, "Action", Name=name, IsBound="true")
        _el(action, "Parameter", Name="entityset", Type="Collection(mscrm.crmbaseentity)", Nullable="false")
        _el(action, "Parameter", Name="Targets", Type="Collection(mscrm.crmbaseentity)", Nullable="false")
        if returns:
            _el(action, "ReturnType", Type=returns, Nullable="false")


def _container(schema: ET.Element, annotations: bool) -> None:
    container = _el(schema, "EntityContainer", Name="System")
    served = {**TABLES, **REGISTRATION_TABLES}
    for table in served.values():
        node = _el(container, "EntitySet", Name=table.entity_set, EntityType=f"mscrm.{table.logical_name}")
        for column in table.columns:
            for prop, target_set in column.navigation.items():
                if target_set in served:
                    _el(node, "NavigationPropertyBinding", Path=prop, Target=target_set)
        if annotations and table.change_tracking:
            note = _el(node, "Annotation", Term="Org.OData.Capabilities.V1.ChangeTracking")
            _el(_el(note, "Record"), "PropertyValue", Property="Supported", Bool="true")
    for name, entity_type in EXTRA_SETS.items():
        _el(container, "EntitySet", Name=name, EntityType=entity_type)
    _el(container, "FunctionImport", Name="WhoAmI", Function="mscrm.WhoAmI")
    _el(container, "FunctionImport", Name="RetrieveCurrentOrganization", Function="mscrm.RetrieveCurrentOrganization")


@cache
def document(annotations: bool = False) -> bytes:
    """The $metadata document (the same for every environment: they share one schema)."""
    ET.register_namespace("edmx", EDMX)
    ET.register_namespace("", EDM)
    root = ET.Element(f"{{{EDMX}}}Edmx", Version="4.0")
    for uri, namespace, alias in ((CORE, "Org.OData.Core.V1", "Core"),
                                  (CAPABILITIES, "Org.OData.Capabilities.V1", "Capabilities")):
        ref = ET.SubElement(root, f"{{{EDMX}}}Reference", Uri=uri)
        ET.SubElement(ref, f"{{{EDMX}}}Include", Namespace=namespace, Alias=alias)
    services = ET.SubElement(root, f"{{{EDMX}}}DataServices")
    schema = ET.SubElement(services, f"{{{EDM}}}Schema", Namespace=metadata.NS, Alias="mscrm")
    _el(schema, "EntityType", Name="crmbaseentity", Abstract="true")
    partners: dict[str, list[tuple[str, Table, str]]] = {}
    for table in ALL_TABLES.values():
        for column in table.columns:
            for prop, target_set in column.navigation.items():
                target = ALL_TABLES[target_set]
                partners.setdefault(target_set, []).append((partner(table, column, target), table, prop))
    for table in ALL_TABLES.values():
        _entity_type(schema, table, partners)
    for name, props in COMPLEX_TYPES.items():
        node = _el(schema, "ComplexType", Name=name)
        for prop, edm in props.items():
            _el(node, "Property", Name=prop, Type=edm)
    _metadata_types(schema)
    _operations(schema)
    _container(schema, annotations)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def service_document(base: str) -> dict:
    """Every entity set with its name, kind and URL (relative to the service root)."""
    names = sorted([*TABLES, *REGISTRATION_TABLES, *EXTRA_SETS], key=str.lower)
    return {"@odata.context": f"{base}/$metadata",
            "value": [{"name": name, "kind": "EntitySet", "url": name} for name in names]}
