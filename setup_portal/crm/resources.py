"""The seven resources of the instance API and how their fields map to Dataverse columns.

Field names are the API's own (camelCase, stable); columns are Dataverse logical names that
exist both in Dataverse and in the sandbox (setup_portal/sandbox/data/schema.py). Lookups are
read from their `_<name>_value` column and written through a navigation property with
`<navigation>@odata.bind`, the only way the Web API sets them.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/account
(and contact, lead, opportunity, task, annotation, activitypointer);
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api
"""

from __future__ import annotations

import difflib
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from .errors import QueryError, shorten

# Field types. "decimal" covers Dataverse's decimal and money columns; "int" covers whole
# numbers and choices (option sets are filtered and written by their number).
TYPES = frozenset({"string", "decimal", "int", "bool", "datetime", "date", "guid", "lookup"})
INT32 = 2**31
# Dataverse's money range; decimals are held to it too, which keeps float conversions exact enough.
DECIMAL_LIMIT = 922_337_203_685_477


@dataclass(frozen=True)
class Field:
    name: str
    column: str
    type: str
    read_only: bool = False
    # Long text (memo) columns and lookups are not offered for orderBy.
    sortable: bool = True
    # Lookups: navigation property -> target entity set (several for customer/regarding lookups).
    navigation: dict[str, str] = field(default_factory=dict)
    # What the environment's metadata says (crm/tables.py fills them; the hand-written fields leave them
    # empty): display name, AttributeType, required level, text length, numeric range and decimals,
    # choices (value, label), whether the column is set only on create, and lookups' target tables
    # (entity set -> logical name).
    label: str = ""
    kind: str = ""
    required: str = ""
    max_length: int = 0
    minimum: int | float | None = None
    maximum: int | float | None = None
    precision: int | None = None
    choices: tuple[tuple[int, str], ...] = ()
    create_only: bool = False
    target_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown field type {self.type!r}")

    def __hash__(self) -> int:  # navigation is a dict; a field is known by its name and column
        return hash((self.name, self.column))

    @property
    def polymorphic(self) -> bool:
        return len(self.navigation) > 1

    @property
    def attribute(self) -> str:
        """The column's attribute name: a lookup's `_x_value` is attribute `x`."""
        if self.type == "lookup" and self.column.startswith("_") and self.column.endswith("_value"):
            return self.column[1:-len("_value")]
        return self.column

    def target_name(self, entity_set: str) -> str:
        return self.target_names.get(entity_set) or _LOGICAL_NAMES.get(entity_set, entity_set)

    def choice(self, value: object) -> int | None:
        """A choice's value from its value or its label (case ignored); None when it is neither."""
        for number, text in self.choices:
            if value == number and not isinstance(value, bool) or (
                    isinstance(value, str) and value.casefold() == text.casefold()):
                return number
        return None


@dataclass(frozen=True)
class Resource:
    name: str
    entity_set: str
    key: str
    writable: bool
    fields: tuple[Field, ...]
    # How many of the fields (from the first) a record has when the caller names none; 0: all of them.
    defaults: int = 0
    # The seven friendly resources': how the portal's forms list it, and the Dataverse table (logical
    # name) it reads. RESOURCES below is the one catalogue of them (polling's choices, the provisioning probe).
    label: str = field(default="", compare=False)
    logical_name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        by_name = {f.name.lower(): f for f in self.fields}
        # A field is also found by its column's name (`telephone1` finds `phone`), unless a field has that
        # name; the key is `id` only.
        for f in self.fields:
            if f.name != "id":
                by_name.setdefault(f.attribute.lower(), f)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_column", {f.column: f for f in self.fields})
        # (column, API name) in catalogue order, for to_record, which runs once per row of every page.
        object.__setattr__(self, "_record_names", tuple((f.column, f.name) for f in self.fields))

    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)
    _by_column: dict[str, Field] = field(init=False, repr=False, compare=False)
    _record_names: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        return hash(self.name)

    def field(self, name: str) -> Field | None:
        """A field by its API name; case does not matter (`createdon` finds `createdOn`)."""
        return self._by_name.get(name.lower())

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def sortable_names(self) -> list[str]:
        return [f.name for f in self.fields if f.sortable]

    @property
    def writable_names(self) -> list[str]:
        return [f.name for f in self.fields if not f.read_only]

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.fields]


def _id(key: str) -> Field:
    # Writable so a create may choose the key, as the Web API allows; to_dataverse refuses it on updates.
    return Field("id", key, "guid")


def _lookup(name: str, column: str, navigation: dict[str, str], read_only: bool = False) -> Field:
    return Field(name, column, "lookup", read_only=read_only, sortable=False, navigation=navigation)


def _common(*, state: bool = True) -> tuple[Field, ...]:
    """Owner, audit stamps and (for tables that have them) state and status, on every resource."""
    fields = [
        _lookup("ownerId", "_ownerid_value", {"ownerid": "systemusers"}),
        _lookup("createdById", "_createdby_value", {}, read_only=True),
        _lookup("modifiedById", "_modifiedby_value", {}, read_only=True),
        Field("createdOn", "createdon", "datetime", read_only=True),
        Field("modifiedOn", "modifiedon", "datetime", read_only=True),
    ]
    if state:
        fields[:0] = [Field("state", "statecode", "int"), Field("status", "statuscode", "int")]
    return tuple(fields)


REGARDING = {"account": "accounts", "contact": "contacts", "lead": "leads", "opportunity": "opportunities"}
CUSTOMER = {"account": "accounts", "contact": "contacts"}

ACCOUNTS = Resource("accounts", "accounts", "accountid", True, (
    _id("accountid"),
    Field("name", "name", "string"),
    Field("accountNumber", "accountnumber", "string"),
    Field("phone", "telephone1", "string"),
    Field("email", "emailaddress1", "string"),
    Field("website", "websiteurl", "string"),
    Field("street", "address1_line1", "string"),
    Field("city", "address1_city", "string"),
    Field("stateOrProvince", "address1_stateorprovince", "string"),
    Field("postalCode", "address1_postalcode", "string"),
    Field("country", "address1_country", "string"),
    Field("revenue", "revenue", "decimal"),
    Field("employees", "numberofemployees", "int"),
    Field("industry", "industrycode", "int"),
    Field("creditOnHold", "creditonhold", "bool"),
    Field("description", "description", "string", sortable=False),
    _lookup("primaryContactId", "_primarycontactid_value", {"primarycontactid": "contacts"}),
    _lookup("parentAccountId", "_parentaccountid_value", {"parentaccountid": "accounts"}),
    *_common(),
), label="Accounts", logical_name="account")

CONTACTS = Resource("contacts", "contacts", "contactid", True, (
    _id("contactid"),
    Field("firstName", "firstname", "string"),
    Field("lastName", "lastname", "string"),
    Field("fullName", "fullname", "string", read_only=True),
    Field("jobTitle", "jobtitle", "string"),
    Field("email", "emailaddress1", "string"),
    Field("phone", "telephone1", "string"),
    Field("mobilePhone", "mobilephone", "string"),
    Field("city", "address1_city", "string"),
    Field("birthDate", "birthdate", "date"),
    Field("description", "description", "string", sortable=False),
    _lookup("parentCustomerId", "_parentcustomerid_value",
            {f"parentcustomerid_{name}": target for name, target in CUSTOMER.items()}),
    *_common(),
), label="Contacts", logical_name="contact")

LEADS = Resource("leads", "leads", "leadid", True, (
    _id("leadid"),
    Field("subject", "subject", "string"),
    Field("firstName", "firstname", "string"),
    Field("lastName", "lastname", "string"),
    Field("fullName", "fullname", "string", read_only=True),
    Field("companyName", "companyname", "string"),
    Field("email", "emailaddress1", "string"),
    Field("phone", "telephone1", "string"),
    Field("city", "address1_city", "string"),
    Field("estimatedAmount", "estimatedamount", "decimal"),
    Field("leadSource", "leadsourcecode", "int"),
    Field("description", "description", "string", sortable=False),
    *_common(),
), label="Leads", logical_name="lead")

OPPORTUNITIES = Resource("opportunities", "opportunities", "opportunityid", True, (
    _id("opportunityid"),
    Field("name", "name", "string"),
    Field("estimatedValue", "estimatedvalue", "decimal"),
    Field("estimatedCloseDate", "estimatedclosedate", "date"),
    Field("closeProbability", "closeprobability", "int"),
    Field("description", "description", "string", sortable=False),
    _lookup("customerId", "_customerid_value", {f"customerid_{name}": target for name, target in CUSTOMER.items()}),
    _lookup("parentAccountId", "_parentaccountid_value", {"parentaccountid": "accounts"}),
    _lookup("parentContactId", "_parentcontactid_value", {"parentcontactid": "contacts"}),
    *_common(),
), label="Opportunities", logical_name="opportunity")

_TASK_FIELDS = (
    Field("subject", "subject", "string"),
    Field("description", "description", "string", sortable=False),
    Field("dueDate", "scheduledend", "datetime"),
    Field("priority", "prioritycode", "int"),
    Field("activityType", "activitytypecode", "string", read_only=True),
    _lookup("regardingId", "_regardingobjectid_value",
            {f"regardingobjectid_{name}_task": target for name, target in REGARDING.items()}),
    *_common(),
)

TASKS = Resource("tasks", "tasks", "activityid", True, (
    _id("activityid"),
    *_TASK_FIELDS[:4],
    Field("percentComplete", "percentcomplete", "int"),
    *_TASK_FIELDS[4:],
), label="Tasks", logical_name="task")

NOTES = Resource("notes", "annotations", "annotationid", True, (
    _id("annotationid"),
    Field("subject", "subject", "string"),
    Field("text", "notetext", "string", sortable=False),
    Field("fileName", "filename", "string"),
    Field("mimeType", "mimetype", "string"),
    Field("isDocument", "isdocument", "bool"),
    Field("objectType", "objecttypecode", "string", read_only=True),
    _lookup("regardingId", "_objectid_value", {f"objectid_{name}": target for name, target in REGARDING.items()}),
    *_common(state=False),
), label="Notes", logical_name="annotation")

# Activities are read through activitypointers: every task is also an activity there. Writes go
# to the activity's own table (tasks), so every field here is read-only.
ACTIVITIES = Resource("activities", "activitypointers", "activityid", False, tuple(
    Field(f.name, f.column, f.type, True, f.sortable, f.navigation) for f in (_id("activityid"), *_TASK_FIELDS)
), label="Activities", logical_name="activitypointer")

RESOURCES: dict[str, Resource] = {r.name: r for r in
                                  (ACCOUNTS, CONTACTS, LEADS, OPPORTUNITIES, TASKS, NOTES, ACTIVITIES)}
# The friendly resources as the portal offers them to poll (the wizard's and edit form's choices, the
# management API's), in catalogue order: (name, label).
FRIENDLY_CHOICES: list[tuple[str, str]] = [(r.name, r.label) for r in RESOURCES.values()]
# Lookup targets: entity set -> logical name. A body may name a target either way ("account" or "accounts").
_LOGICAL_NAMES = {**{target: name for name, target in REGARDING.items()}, "systemusers": "systemuser"}
_TARGET_ALIASES = {**{name: target for target, name in _LOGICAL_NAMES.items()},
                   **{target: target for target in _LOGICAL_NAMES}}


def get_resource(name: str) -> Resource | None:
    return RESOURCES.get(name)


# --- Dataverse rows -> API records ---------------------------------------------------------------
def to_record(row: dict, resource: Resource, *, drop_nulls: bool = False) -> dict:
    """A Dataverse row as the API's plain JSON: `id`, the fields present in the row by their API
    names (in catalogue order), and `_etag` from `@odata.etag`. Annotations and columns outside
    the catalogue are left out; with `drop_nulls`, so are fields whose value is null."""
    if drop_nulls:
        record = {name: row[column] for column, name in resource._record_names
                  if column in row and (row[column] is not None or name == "id")}
    else:
        record = {name: row[column] for column, name in resource._record_names if column in row}
    etag = row.get("@odata.etag")
    if etag is not None:
        record["_etag"] = etag
    return record


# --- API bodies -> Dataverse bodies --------------------------------------------------------------
def to_dataverse(body: object, resource: Resource, *, creating: bool) -> dict:
    """A create (`creating=True`) or update body in API names as a Dataverse Web API body.

    Each value is checked against its field's type; lookups become `<navigation>@odata.bind`
    (a GUID for single-target lookups, `{"type": "account", "id": "<guid>"}` for lookups that
    can point to several tables; null clears one). `_etag` is ignored, as clients often send a
    record back as they got it. Anything else unknown or read-only is a QueryError (param "body")."""
    if not resource.writable:
        raise QueryError(f"{resource.name} are read-only here: create and change them through their own "
                         f"resource (tasks).", param="body")
    if not isinstance(body, dict):
        raise QueryError("The body must be a JSON object of fields.", param="body")
    out: dict = {}
    for name, value in body.items():
        if name == "_etag":
            continue
        f = resource.field(name) if isinstance(name, str) else None
        if f is None or (f.name == "id" and not creating):
            known = [n for n in resource.writable_names if creating or n != "id"]
            raise QueryError(f"{resource.name} have no writable field '{shorten(str(name))}'. "
                             f"{known_names(str(name), known, 'Writable fields')}", param="body", field=str(name),
                             known=known)
        if f.read_only:
            raise QueryError(f"'{f.name}' is read-only.", param="body", field=f.name,
                             known=resource.writable_names)
        if f.create_only and not creating:
            raise QueryError(f"'{f.name}' is set when a record is created and cannot be changed.", param="body",
                             field=f.name)
        if f.type == "lookup":
            out.update(_bind(f, value))
        else:
            out[f.column] = _body_value(f, value)
    return out


def known_names(name: str, known: list[str], what: str) -> str:
    """"Did you mean …?" for the closest known names, or every known name when there are few."""
    closest = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=3, cutoff=0.6)
    by_lower = {k.lower(): k for k in known}
    if closest:
        return f"Did you mean {' or '.join(repr(by_lower[c]) for c in closest)}?"
    if len(known) > 40:
        return f"{what}: {', '.join(known[:40])}, … ({len(known)} in all)."
    return f"{what}: {', '.join(known)}."


def _bind(f: Field, value: object) -> dict:
    """`{"parentcustomerid_account@odata.bind": "/accounts(<guid>)"}` for a lookup value."""
    if value is None:
        return {f"{next(iter(f.navigation))}@odata.bind": None}
    kinds = " or ".join(f.target_name(target) for target in f.navigation.values())
    if not f.navigation:
        raise QueryError(f"'{f.name}' cannot be set through the API (Dynamics CRM names no navigation property "
                         "for it).", param="body", field=f.name)
    if isinstance(value, str) and not f.polymorphic:
        nav, target = next(iter(f.navigation.items()))
        return {f"{nav}@odata.bind": f"/{target}({_guid(f, value)})"}
    # {"table": "cr8a2_project", "id": ...}; "type" is the older name of "table".
    key = "table" if isinstance(value, dict) and "table" in value else "type"
    if isinstance(value, dict) and set(value) == {key, "id"} and isinstance(value[key], str):
        wanted = value[key].lower()
        for nav, target in f.navigation.items():
            if wanted in (target, f.target_name(target)):
                return {f"{nav}@odata.bind": f"/{target}({_guid(f, value['id'])})"}
        raise QueryError(f"'{f.name}' can point to {kinds}, not '{shorten(value[key])}'.", param="body",
                         field=f.name)
    first = f.target_name(next(iter(f.navigation.values())))
    example = f'{{"table": "{first}", "id": "<guid>"}}' if f.polymorphic else '"<guid>"'
    raise QueryError(f"'{f.name}' takes {example} (it can point to {kinds}), or null to clear it.",
                     param="body", field=f.name)


def _guid(f: Field, value: object) -> str:
    if isinstance(value, str) and len(value) <= 45:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise QueryError(f"'{f.name}' must be a GUID such as 0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.", param="body",
                     field=f.name)


def _body_value(f: Field, value: object) -> object:
    """A JSON value checked against the field's type, in the form the Web API expects."""
    if value is None:
        if f.name == "id":
            raise QueryError("'id' cannot be null.", param="body", field="id")
        return None
    wrong = QueryError(f"'{f.name}' must be {_TYPE_WORDS[f.type]}.", param="body", field=f.name)
    if f.type == "string":
        if not isinstance(value, str):
            raise wrong
        if "\x00" in value:
            raise QueryError(f"'{f.name}' contains a NUL character.", param="body", field=f.name)
        if f.max_length and len(value) > f.max_length:
            raise QueryError(f"'{f.name}' takes at most {f.max_length} characters; this one has {len(value)}.",
                             param="body", field=f.name)
        return value
    if f.choices:
        number = f.choice(value)
        if number is None:
            raise QueryError(f"'{f.name}' is a choice: one of {choice_words(f)} (the value or the label).",
                             param="body", field=f.name)
        return number
    if f.type in {"int", "decimal"}:
        # math.isfinite() of an int too big for a float raises OverflowError: only floats are asked.
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise wrong
        low, high = number_range(f)
        if f.type == "int" and isinstance(value, float) and not value.is_integer():
            raise wrong
        if not low <= value <= high:
            raise QueryError(f"'{f.name}' must be between {low} and {high} ({_TYPE_WORDS[f.type]}).", param="body",
                             field=f.name)
        if f.type == "int":
            return int(value)
        if f.precision is not None and -Decimal(str(value)).as_tuple().exponent > f.precision:
            raise QueryError(f"'{f.name}' takes at most {f.precision} decimal places.", param="body", field=f.name)
        return value
    if f.type == "bool":
        if not isinstance(value, bool):
            raise wrong
        return value
    if f.type == "guid":
        return _guid(f, value)
    if not isinstance(value, str) or len(value) > 40:
        raise wrong
    try:
        if f.type == "date":
            return date.fromisoformat(value).isoformat()
        moment = datetime.fromisoformat(value)
        return format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        raise wrong from None


def number_range(f: Field) -> tuple[int | float, int | float]:
    """The lowest and highest value a number field takes: the metadata's, within what the API checks anyway."""
    low, high = (-INT32, INT32 - 1) if f.type == "int" else (-DECIMAL_LIMIT, DECIMAL_LIMIT)
    if f.minimum is not None:
        low = max(low, f.minimum)
    if f.maximum is not None:
        high = min(high, f.maximum)
    return low, high


def choice_words(f: Field) -> str:
    words = [f"{value} ({label})" if label else str(value) for value, label in f.choices[:20]]
    return ", ".join(words) + (f", … ({len(f.choices)} in all)" if len(f.choices) > 20 else "")


def format_datetime(moment: datetime) -> str:
    """ISO 8601 in UTC with `Z`, as Dataverse writes them; fractions of a second only when there are some."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


_TYPE_WORDS = {"string": "a string", "decimal": "a number", "int": "a whole number", "bool": "true or false",
               "datetime": "an ISO 8601 date-time such as 2025-03-01T09:30:00Z", "date": "a date such as 2025-03-01",
               "guid": "a GUID", "lookup": "a GUID"}
