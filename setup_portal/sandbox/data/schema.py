"""The tables the sandbox's Dataverse holds: their columns, types, choices and lookups.

A small, fixed subset of the real schema — the columns people use — with Dataverse's
logical names, entity set names and primary keys. Each table is one SQLite table named
after its entity set; `activitypointers` is a read-only view over `tasks`.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/account
(and contact, lead, opportunity, task, annotation, activitypointer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column kinds and the OData type each is exposed as (used in error messages and $filter checks).
EDM_TYPES = {
    "guid": "Edm.Guid", "lookup": "Edm.Guid", "string": "Edm.String", "memo": "Edm.String",
    "int": "Edm.Int32", "bigint": "Edm.Int64", "choice": "Edm.Int32", "money": "Edm.Decimal",
    "decimal": "Edm.Decimal", "bool": "Edm.Boolean", "datetime": "Edm.DateTimeOffset", "date": "Edm.Date",
}
STRING_KINDS = frozenset({"string", "memo"})
NUMBER_KINDS = frozenset({"int", "bigint", "choice", "money", "decimal"})
SQL_TYPES = {"guid": "TEXT", "lookup": "TEXT", "string": "TEXT", "memo": "TEXT", "int": "INTEGER",
             "bigint": "INTEGER", "choice": "INTEGER", "money": "REAL", "decimal": "REAL", "bool": "INTEGER",
             "datetime": "TEXT", "date": "TEXT"}


@dataclass(frozen=True)
class Status:
    """A statuscode value and the statecode it belongs to."""

    label: str
    state: int


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    max_length: int = 0
    choices: dict[int, str] = field(default_factory=dict)
    # Lookups: navigation property -> target entity set (several for customer/regarding lookups).
    navigation: dict[str, str] = field(default_factory=dict)
    read_only: bool = False

    @property
    def edm_type(self) -> str:
        return EDM_TYPES[self.kind]

    @property
    def polymorphic(self) -> bool:
        return self.kind == "lookup" and len(self.navigation) > 1

    @property
    def type_column(self) -> str:
        """Hidden column that remembers which table a polymorphic lookup points to."""
        return f"{self.name}__type"


@dataclass(frozen=True)
class Table:
    logical_name: str
    entity_set: str
    primary_key: str
    primary_name: str
    columns: tuple[Column, ...]
    statuses: dict[int, Status] = field(default_factory=dict)
    read_only: bool = False
    # For a view: the table it is built from (changes and deletions are that table's).
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        nav = {prop: (c, target) for c in self.columns for prop, target in c.navigation.items()}
        object.__setattr__(self, "by_navigation", nav)

    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    by_navigation: dict[str, tuple[Column, str]] = field(init=False, repr=False, compare=False)

    @property
    def odata_type(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def column(self, name: str) -> Column | None:
        return self.by_name.get(name)

    def default_status(self, state: int) -> int | None:
        return next((code for code, status in self.statuses.items() if status.state == state), None)


STATE_ACTIVE = {0: "Active", 1: "Inactive"}
STATUS_ACTIVE = {1: Status("Active", 0), 2: Status("Inactive", 1)}


def _common(state: dict[int, str], statuses: dict[int, Status]) -> tuple[Column, ...]:
    """Columns every table here has: state, owner, audit stamps and the row version."""
    columns = [
        Column("_ownerid_value", "lookup", navigation={"ownerid": "systemusers"}),
        Column("_owningbusinessunit_value", "lookup", read_only=True),
        Column("_createdby_value", "lookup", read_only=True),
        Column("_modifiedby_value", "lookup", read_only=True),
        Column("createdon", "datetime", read_only=True),
        Column("modifiedon", "datetime", read_only=True),
        Column("versionnumber", "bigint", read_only=True),
    ]
    if state:
        columns[:0] = [Column("statecode", "choice", choices=state),
                       Column("statuscode", "choice", choices={k: v.label for k, v in statuses.items()})]
    return tuple(columns)


INDUSTRIES = {1: "Accounting", 6: "Business Services", 7: "Consulting", 9: "Design, Direction and Creative Management",
              12: "Financial", 13: "Food and Tobacco Processing", 19: "Inbound Repair and Services",
              25: "Retail", 31: "Utility Creation and Distribution", 33: "Wholesale"}
LEAD_SOURCES = {1: "Advertisement", 2: "Employee Referral", 3: "External Referral", 4: "Partner",
                5: "Public Relations", 6: "Seminar", 7: "Trade Show", 8: "Web", 9: "Word of Mouth", 10: "Other"}
LEAD_STATE = {0: "Open", 1: "Qualified", 2: "Disqualified"}
LEAD_STATUS = {1: Status("New", 0), 2: Status("Contacted", 0), 3: Status("Qualified", 1), 4: Status("Lost", 2),
               5: Status("Cannot Contact", 2), 6: Status("No Longer Interested", 2), 7: Status("Canceled", 2)}
OPPORTUNITY_STATE = {0: "Open", 1: "Won", 2: "Lost"}
OPPORTUNITY_STATUS = {1: Status("In Progress", 0), 2: Status("On Hold", 0), 3: Status("Won", 1),
                      4: Status("Canceled", 2), 5: Status("Out-Sold", 2)}
TASK_STATE = {0: "Open", 1: "Completed", 2: "Canceled"}
TASK_STATUS = {2: Status("Not Started", 0), 3: Status("In Progress", 0), 4: Status("Waiting on someone else", 0),
               7: Status("Deferred", 0), 5: Status("Completed", 1), 6: Status("Canceled", 2)}
PRIORITIES = {0: "Low", 1: "Normal", 2: "High"}
REGARDING = {"account": "accounts", "contact": "contacts", "lead": "leads", "opportunity": "opportunities"}

ACCOUNTS = Table("account", "accounts", "accountid", "name", (
    Column("accountid", "guid"),
    Column("name", "string", 160),
    Column("accountnumber", "string", 20),
    Column("telephone1", "string", 50),
    Column("emailaddress1", "string", 100),
    Column("websiteurl", "string", 200),
    Column("address1_line1", "string", 250),
    Column("address1_city", "string", 80),
    Column("address1_stateorprovince", "string", 50),
    Column("address1_postalcode", "string", 20),
    Column("address1_country", "string", 80),
    Column("revenue", "money"),
    Column("numberofemployees", "int"),
    Column("industrycode", "choice", choices=INDUSTRIES),
    Column("creditonhold", "bool"),
    Column("description", "memo", 2000),
    Column("_primarycontactid_value", "lookup", navigation={"primarycontactid": "contacts"}),
    Column("_parentaccountid_value", "lookup", navigation={"parentaccountid": "accounts"}),
    *_common(STATE_ACTIVE, STATUS_ACTIVE),
), STATUS_ACTIVE)

CONTACTS = Table("contact", "contacts", "contactid", "fullname", (
    Column("contactid", "guid"),
    Column("firstname", "string", 50),
    Column("lastname", "string", 50),
    Column("fullname", "string", 160, read_only=True),
    Column("jobtitle", "string", 100),
    Column("emailaddress1", "string", 100),
    Column("telephone1", "string", 50),
    Column("mobilephone", "string", 50),
    Column("address1_city", "string", 80),
    Column("birthdate", "date"),
    Column("description", "memo", 2000),
    Column("_parentcustomerid_value", "lookup",
           navigation={"parentcustomerid_account": "accounts", "parentcustomerid_contact": "contacts"}),
    *_common(STATE_ACTIVE, STATUS_ACTIVE),
), STATUS_ACTIVE)

LEADS = Table("lead", "leads", "leadid", "fullname", (
    Column("leadid", "guid"),
    Column("subject", "string", 300),
    Column("firstname", "string", 50),
    Column("lastname", "string", 50),
    Column("fullname", "string", 160, read_only=True),
    Column("companyname", "string", 100),
    Column("emailaddress1", "string", 100),
    Column("telephone1", "string", 50),
    Column("address1_city", "string", 80),
    Column("estimatedamount", "money"),
    Column("leadsourcecode", "choice", choices=LEAD_SOURCES),
    Column("description", "memo", 2000),
    *_common(LEAD_STATE, LEAD_STATUS),
), LEAD_STATUS)

OPPORTUNITIES = Table("opportunity", "opportunities", "opportunityid", "name", (
    Column("opportunityid", "guid"),
    Column("name", "string", 300),
    Column("estimatedvalue", "money"),
    Column("estimatedclosedate", "date"),
    Column("closeprobability", "int"),
    Column("description", "memo", 2000),
    Column("_customerid_value", "lookup",
           navigation={"customerid_account": "accounts", "customerid_contact": "contacts"}),
    Column("_parentaccountid_value", "lookup", navigation={"parentaccountid": "accounts"}),
    Column("_parentcontactid_value", "lookup", navigation={"parentcontactid": "contacts"}),
    *_common(OPPORTUNITY_STATE, OPPORTUNITY_STATUS),
), OPPORTUNITY_STATUS)

TASKS = Table("task", "tasks", "activityid", "subject", (
    Column("activityid", "guid"),
    Column("subject", "string", 200),
    Column("description", "memo", 2000),
    Column("scheduledend", "datetime"),
    Column("prioritycode", "choice", choices=PRIORITIES),
    Column("percentcomplete", "int"),
    Column("activitytypecode", "string", 64, read_only=True),
    Column("_regardingobjectid_value", "lookup",
           navigation={f"regardingobjectid_{name}_task": target for name, target in REGARDING.items()}),
    *_common(TASK_STATE, TASK_STATUS),
), TASK_STATUS)

ANNOTATIONS = Table("annotation", "annotations", "annotationid", "subject", (
    Column("annotationid", "guid"),
    Column("subject", "string", 500),
    Column("notetext", "memo", 100000),
    Column("filename", "string", 255),
    Column("mimetype", "string", 256),
    Column("isdocument", "bool"),
    Column("objecttypecode", "string", 64, read_only=True),
    Column("_objectid_value", "lookup",
           navigation={f"objectid_{name}": target for name, target in REGARDING.items()}),
    *_common({}, {}),
))

# Activities: every task is also an activitypointer row (same activityid). Read-only here.
ACTIVITYPOINTERS = Table("activitypointer", "activitypointers", "activityid", "subject", tuple(
    Column(c.name, c.kind, c.max_length, c.choices, c.navigation, True) for c in TASKS.columns
    if c.name not in {"percentcomplete"}
), TASK_STATUS, read_only=True, source="tasks")

TABLES: dict[str, Table] = {t.entity_set: t for t in
                            (ACCOUNTS, CONTACTS, LEADS, OPPORTUNITIES, TASKS, ANNOTATIONS, ACTIVITYPOINTERS)}
BY_LOGICAL_NAME: dict[str, Table] = {t.logical_name: t for t in TABLES.values()}
WRITABLE = tuple(name for name, table in TABLES.items() if not table.read_only)
