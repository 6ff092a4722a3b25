"""The tables the sandbox's Dataverse holds: their columns, types, choices, lookups and the
metadata Dataverse publishes about them (labels, required levels, change tracking).

A small, fixed subset of the real schema — the columns people use — with Dataverse's
logical names, entity set names and primary keys, plus the customisations every real
organisation has: a publisher (prefix `cr8a2`), two custom tables and custom columns on
account and contact. Each table is one SQLite table named after its entity set;
`activitypointers` is a read-only view over `tasks`. This module is the one source: the
store's tables, the seed, $metadata, the service document and EntityDefinitions
(data/metadata.py, data/csdl.py) are derived from it.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/account
(and contact, lead, opportunity, task, annotation, activitypointer);
https://learn.microsoft.com/power-apps/developer/data-platform/entity-attribute-metadata
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

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


# RequiredLevel values (AttributeRequiredLevel).
OPTIONAL, APPLICATION_REQUIRED, SYSTEM_REQUIRED = "None", "ApplicationRequired", "SystemRequired"
METADATA_NAMESPACE = uuid.UUID("5b7c1f0e-3a52-4c7e-9d0a-8f6e2b1c4d3a")


@dataclass(frozen=True)
class Publisher:
    """Who owns the customisations: its prefix starts every custom name; choice values it adds
    start at its option value prefix times 10,000."""

    unique_name: str
    friendly_name: str
    prefix: str
    option_value_prefix: int

    def option(self, n: int) -> int:
        return self.option_value_prefix * 10000 + n


PUBLISHER = Publisher("contosocustomizations", "Contoso Customizations", "cr8a2", 10000)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    max_length: int = 0
    choices: dict[int, str] = field(default_factory=dict)
    # Lookups: navigation property -> target entity set (several for customer/regarding lookups).
    navigation: dict[str, str] = field(default_factory=dict)
    read_only: bool = False
    label: str = ""
    required: str = OPTIONAL
    custom: bool = False
    # Money columns: decimal places (Precision).
    precision: int = 2

    @property
    def edm_type(self) -> str:
        return EDM_TYPES[self.kind]

    @property
    def attribute(self) -> str:
        """The attribute's logical name: a lookup's `_x_value` property is attribute `x`."""
        if self.kind == "lookup" and self.name.startswith("_") and self.name.endswith("_value"):
            return self.name[1:-len("_value")]
        return self.name

    @property
    def display_name(self) -> str:
        return self.label or self.attribute.replace("_", " ").title()

    @property
    def valid_for_create(self) -> bool:
        return not self.read_only

    @property
    def valid_for_update(self) -> bool:
        return not self.read_only

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
    label: str = ""
    collection_label: str = ""
    object_type_code: int = 0
    custom: bool = False
    change_tracking: bool = True
    # Fixed where Microsoft's documentation shows the real one; derived from the name otherwise.
    metadata_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        nav = {prop: (c, target) for c in self.columns for prop, target in c.navigation.items()}
        object.__setattr__(self, "by_navigation", nav)

    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)
    by_navigation: dict[str, tuple[Column, str]] = field(init=False, repr=False, compare=False)

    @property
    def odata_type(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    @property
    def id(self) -> str:
        """The table's MetadataId."""
        return self.metadata_id or str(uuid.uuid5(METADATA_NAMESPACE, self.logical_name))

    @property
    def display_name(self) -> str:
        return self.label or self.logical_name.title()

    @property
    def schema_name(self) -> str:
        return schema_name(self.logical_name)

    def column(self, name: str) -> Column | None:
        return self.by_name.get(name)

    def default_status(self, state: int) -> int | None:
        return next((code for code, status in self.statuses.items() if status.state == state), None)


def schema_name(logical_name: str) -> str:
    """SchemaName as Dataverse spells it: `cr8a2_project` -> `cr8a2_Project`, `account` -> `Account`."""
    prefix, sep, rest = logical_name.partition("_")
    if sep and prefix == PUBLISHER.prefix:
        return f"{prefix}_{rest[:1].upper()}{rest[1:]}"
    return logical_name[:1].upper() + logical_name[1:]


STATE_ACTIVE = {0: "Active", 1: "Inactive"}
STATUS_ACTIVE = {1: Status("Active", 0), 2: Status("Inactive", 1)}


def _common(state: dict[int, str], statuses: dict[int, Status]) -> tuple[Column, ...]:
    """Columns every table here has: state, owner, audit stamps and the row version."""
    columns = [
        Column("_ownerid_value", "lookup", navigation={"ownerid": "systemusers"}, label="Owner",
               required=SYSTEM_REQUIRED),
        Column("_owningbusinessunit_value", "lookup", navigation={"owningbusinessunit": "businessunits"},
               read_only=True, label="Owning Business Unit"),
        Column("_createdby_value", "lookup", navigation={"createdby": "systemusers"}, read_only=True,
               label="Created By"),
        Column("_modifiedby_value", "lookup", navigation={"modifiedby": "systemusers"}, read_only=True,
               label="Modified By"),
        Column("createdon", "datetime", read_only=True, label="Created On"),
        Column("modifiedon", "datetime", read_only=True, label="Modified On"),
        Column("versionnumber", "bigint", read_only=True, label="Version Number"),
    ]
    if state:
        columns[:0] = [Column("statecode", "choice", choices=state, label="Status", required=SYSTEM_REQUIRED),
                       Column("statuscode", "choice", choices={k: v.label for k, v in statuses.items()},
                              label="Status Reason")]
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
P = PUBLISHER.option
TIERS = {P(0): "Bronze", P(1): "Silver", P(2): "Gold", P(3): "Platinum"}
CHANNELS = {P(0): "Email", P(1): "Phone", P(2): "Teams", P(3): "In person"}
PROJECT_PHASES = {P(0): "Planned", P(1): "In progress", P(2): "On hold", P(3): "Done"}

ACCOUNTS = Table("account", "accounts", "accountid", "name", (
    Column("accountid", "guid", label="Account"),
    Column("name", "string", 160, label="Account Name", required=APPLICATION_REQUIRED),
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
    Column("industrycode", "choice", choices=INDUSTRIES, label="Industry"),
    Column("creditonhold", "bool", label="Credit Hold"),
    Column("description", "memo", 2000),
    Column("_primarycontactid_value", "lookup", navigation={"primarycontactid": "contacts"}, label="Primary Contact"),
    Column("_parentaccountid_value", "lookup", navigation={"parentaccountid": "accounts"}, label="Parent Account"),
    Column("cr8a2_tier", "choice", choices=TIERS, label="Tier", custom=True),
    Column("cr8a2_annualbudget", "money", label="Annual Budget", custom=True),
    Column("_cr8a2_projectid_value", "lookup", navigation={"cr8a2_ProjectId": "cr8a2_projects"},
           label="Main Project", custom=True),
    Column("cr8a2_renewaldate", "date", label="Renewal Date", custom=True),
    *_common(STATE_ACTIVE, STATUS_ACTIVE),
), STATUS_ACTIVE, label="Account", collection_label="Accounts", object_type_code=1,
    metadata_id="70816501-edb9-4740-a16c-6a5efbc05d84")

CONTACTS = Table("contact", "contacts", "contactid", "fullname", (
    Column("contactid", "guid", label="Contact"),
    Column("firstname", "string", 50, label="First Name"),
    Column("lastname", "string", 50, label="Last Name", required=APPLICATION_REQUIRED),
    Column("fullname", "string", 160, read_only=True, label="Full Name"),
    Column("jobtitle", "string", 100),
    Column("emailaddress1", "string", 100),
    Column("telephone1", "string", 50),
    Column("mobilephone", "string", 50),
    Column("address1_city", "string", 80),
    Column("birthdate", "date", label="Birthday"),
    Column("description", "memo", 2000),
    Column("_parentcustomerid_value", "lookup",
           navigation={"parentcustomerid_account": "accounts", "parentcustomerid_contact": "contacts"},
           label="Company Name"),
    Column("cr8a2_tier", "choice", choices=TIERS, label="Tier", custom=True),
    Column("cr8a2_preferredchannel", "choice", choices=CHANNELS, label="Preferred Channel", custom=True),
    Column("cr8a2_spendlimit", "money", label="Spend Limit", custom=True),
    Column("_cr8a2_projectid_value", "lookup", navigation={"cr8a2_ProjectId": "cr8a2_projects"},
           label="Project", custom=True),
    Column("cr8a2_firstcontactdate", "date", label="First Contact Date", custom=True),
    *_common(STATE_ACTIVE, STATUS_ACTIVE),
), STATUS_ACTIVE, label="Contact", collection_label="Contacts", object_type_code=2)

LEADS = Table("lead", "leads", "leadid", "fullname", (
    Column("leadid", "guid", label="Lead"),
    Column("subject", "string", 300, label="Topic", required=APPLICATION_REQUIRED),
    Column("firstname", "string", 50, label="First Name"),
    Column("lastname", "string", 50, label="Last Name", required=APPLICATION_REQUIRED),
    Column("fullname", "string", 160, read_only=True, label="Name"),
    Column("companyname", "string", 100),
    Column("emailaddress1", "string", 100),
    Column("telephone1", "string", 50),
    Column("address1_city", "string", 80),
    Column("estimatedamount", "money"),
    Column("leadsourcecode", "choice", choices=LEAD_SOURCES, label="Lead Source"),
    Column("description", "memo", 2000),
    *_common(LEAD_STATE, LEAD_STATUS),
), LEAD_STATUS, label="Lead", collection_label="Leads", object_type_code=4)

OPPORTUNITIES = Table("opportunity", "opportunities", "opportunityid", "name", (
    Column("opportunityid", "guid", label="Opportunity"),
    Column("name", "string", 300, label="Topic", required=APPLICATION_REQUIRED),
    Column("estimatedvalue", "money"),
    Column("estimatedclosedate", "date"),
    Column("closeprobability", "int"),
    Column("description", "memo", 2000),
    Column("_customerid_value", "lookup",
           navigation={"customerid_account": "accounts", "customerid_contact": "contacts"}),
    Column("_parentaccountid_value", "lookup", navigation={"parentaccountid": "accounts"}),
    Column("_parentcontactid_value", "lookup", navigation={"parentcontactid": "contacts"}),
    *_common(OPPORTUNITY_STATE, OPPORTUNITY_STATUS),
), OPPORTUNITY_STATUS, label="Opportunity", collection_label="Opportunities", object_type_code=3)

TASKS = Table("task", "tasks", "activityid", "subject", (
    Column("activityid", "guid", label="Activity"),
    Column("subject", "string", 200, label="Subject", required=APPLICATION_REQUIRED),
    Column("description", "memo", 2000),
    Column("scheduledend", "datetime"),
    Column("prioritycode", "choice", choices=PRIORITIES),
    Column("percentcomplete", "int"),
    Column("activitytypecode", "string", 64, read_only=True),
    Column("_regardingobjectid_value", "lookup",
           navigation={f"regardingobjectid_{name}_task": target for name, target in REGARDING.items()}),
    *_common(TASK_STATE, TASK_STATUS),
), TASK_STATUS, label="Task", collection_label="Tasks", object_type_code=4212)

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
), label="Note", collection_label="Notes", object_type_code=5)

# Activities: every task is also an activitypointer row (same activityid). Read-only here.
ACTIVITYPOINTERS = Table("activitypointer", "activitypointers", "activityid", "subject", tuple(
    replace(c, read_only=True) for c in TASKS.columns if c.name not in {"percentcomplete"}
), TASK_STATUS, read_only=True, source="tasks", label="Activity", collection_label="Activities",
    object_type_code=4200)

# Custom tables (publisher cr8a2): projects are change-tracked, milestones are not.
PROJECTS = Table("cr8a2_project", "cr8a2_projects", "cr8a2_projectid", "cr8a2_name", (
    Column("cr8a2_projectid", "guid", label="Project", custom=True),
    Column("cr8a2_name", "string", 100, label="Name", required=APPLICATION_REQUIRED, custom=True),
    Column("cr8a2_code", "string", 20, label="Project Code", custom=True),
    Column("cr8a2_phase", "choice", choices=PROJECT_PHASES, label="Phase", custom=True),
    Column("cr8a2_budget", "money", label="Budget", custom=True),
    Column("cr8a2_startdate", "date", label="Start Date", custom=True),
    Column("_cr8a2_accountid_value", "lookup", navigation={"cr8a2_AccountId": "accounts"}, label="Account",
           custom=True),
    *_common(STATE_ACTIVE, STATUS_ACTIVE),
), STATUS_ACTIVE, label="Project", collection_label="Projects", object_type_code=10000, custom=True)

MILESTONES = Table("cr8a2_milestone", "cr8a2_milestones", "cr8a2_milestoneid", "cr8a2_name", (
    Column("cr8a2_milestoneid", "guid", label="Milestone", custom=True),
    Column("cr8a2_name", "string", 100, label="Name", required=APPLICATION_REQUIRED, custom=True),
    Column("cr8a2_duedate", "datetime", label="Due", custom=True),
    Column("cr8a2_done", "bool", label="Done", custom=True),
    Column("_cr8a2_projectid_value", "lookup", navigation={"cr8a2_ProjectId": "cr8a2_projects"}, label="Project",
           required=APPLICATION_REQUIRED, custom=True),
    *_common(STATE_ACTIVE, STATUS_ACTIVE),
), STATUS_ACTIVE, label="Milestone", collection_label="Milestones", object_type_code=10001, custom=True,
    change_tracking=False)

TABLES: dict[str, Table] = {t.entity_set: t for t in
                            (ACCOUNTS, CONTACTS, LEADS, OPPORTUNITIES, TASKS, ANNOTATIONS, ACTIVITYPOINTERS,
                             PROJECTS, MILESTONES)}
BY_LOGICAL_NAME: dict[str, Table] = {t.logical_name: t for t in TABLES.values()}
WRITABLE = tuple(name for name, table in TABLES.items() if not table.read_only)

# Tables the data's lookups point at that the sandbox serves no rows of (owners, business
# units) or answers elsewhere (organizations, views/dataverse.py): described, not stored.
SYSTEM_TABLES: dict[str, Table] = {t.entity_set: t for t in (
    Table("systemuser", "systemusers", "systemuserid", "fullname", (
        Column("systemuserid", "guid", label="User"),
        Column("fullname", "string", 200, read_only=True, label="Full Name"),
        Column("domainname", "string", 1024, label="User Name", required=SYSTEM_REQUIRED),
    ), read_only=True, label="User", collection_label="Users", object_type_code=8),
    Table("businessunit", "businessunits", "businessunitid", "name", (
        Column("businessunitid", "guid", label="Business Unit"),
        Column("name", "string", 160, label="Name", required=SYSTEM_REQUIRED),
    ), read_only=True, label="Business Unit", collection_label="Business Units", object_type_code=10),
    Table("organization", "organizations", "organizationid", "name", (
        Column("organizationid", "guid", read_only=True, label="Organization"),
        Column("name", "string", 160, read_only=True, label="Name"),
        Column("friendlyname", "string", 160, read_only=True, label="Friendly Name"),
    ), read_only=True, label="Organization", collection_label="Organizations", object_type_code=1019,
        change_tracking=False),
)}
ALL_TABLES: dict[str, Table] = {**TABLES, **SYSTEM_TABLES}

# Plug-in registration (webhooks): service endpoints, the SDK messages and their per-table filters,
# and the steps that send a message's execution context to an endpoint. Served by plugins.py from
# memory, not the data store: organization-owned, no change tracking, no rows in the seed.
# Reference: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/serviceendpoint
# (and sdkmessage, sdkmessagefilter, sdkmessageprocessingstep); register-web-hook.
CONTRACTS = {1: "OneWay", 2: "Queue", 3: "REST", 4: "TwoWay", 5: "Topic", 6: "Queue (Persistent)",
             7: "Event Hub", 8: "Webhook", 9: "Event Grid", 10: "Managed Data Lake"}
AUTH_TYPES = {1: "ACS", 2: "SAS Key", 3: "SAS Token", 4: "Webhook Key", 5: "Http Header", 6: "Http Query String",
              7: "Connection String", 8: "Access Key"}
STAGES = {10: "Pre-validation", 20: "Pre-operation", 30: "Main operation", 40: "Post-operation"}
MODES = {0: "Synchronous", 1: "Asynchronous"}
ENABLED_STATE = {0: "Enabled", 1: "Disabled"}
ENABLED_STATUS = {1: Status("Enabled", 0), 2: Status("Disabled", 1)}

SERVICE_ENDPOINTS = Table("serviceendpoint", "serviceendpoints", "serviceendpointid", "name", (
    Column("serviceendpointid", "guid", label="Service Endpoint"),
    Column("name", "string", 256, label="Name", required=SYSTEM_REQUIRED),
    Column("contract", "choice", choices=CONTRACTS, label="Contract", required=SYSTEM_REQUIRED),
    Column("url", "string", 2000, label="Url Address"),
    Column("authtype", "choice", choices=AUTH_TYPES, label="Specifies mode of authentication with SB"),
    # IsValidForRead false in Dataverse: written, never read back (plugins.py leaves it out of answers).
    Column("authvalue", "string", 2048, label="Authentication Value"),
    Column("messageformat", "choice", choices={1: "BinaryXML", 2: "Json", 3: "TextXML"}, label="Message Format"),
    Column("connectionmode", "choice", choices={1: "Normal", 2: "Federated"}, label="Connection Mode"),
    Column("description", "memo", 2000),
    Column("createdon", "datetime", read_only=True, label="Created On"),
    Column("modifiedon", "datetime", read_only=True, label="Modified On"),
), label="Service Endpoint", collection_label="Service Endpoints", object_type_code=4618, change_tracking=False)

SDK_MESSAGES = Table("sdkmessage", "sdkmessages", "sdkmessageid", "name", (
    Column("sdkmessageid", "guid", label="SDK Message"),
    Column("name", "string", 256, read_only=True, label="Name"),
), read_only=True, label="Sdk Message", collection_label="Sdk Messages", object_type_code=4606,
    change_tracking=False)

SDK_MESSAGE_FILTERS = Table("sdkmessagefilter", "sdkmessagefilters", "sdkmessagefilterid", "name", (
    Column("sdkmessagefilterid", "guid", label="SDK Message Filter"),
    Column("name", "string", 256, read_only=True, label="Name"),
    Column("primaryobjecttypecode", "string", 64, read_only=True, label="Primary Object Type Code"),
    Column("secondaryobjecttypecode", "string", 64, read_only=True, label="Secondary Object Type Code"),
    Column("iscustomprocessingstepallowed", "bool", read_only=True, label="Custom Processing Step Allowed"),
    Column("_sdkmessageid_value", "lookup", navigation={"sdkmessageid": "sdkmessages"}, read_only=True,
           label="SDK Message ID"),
), read_only=True, label="Sdk Message Filter", collection_label="Sdk Message Filters", object_type_code=4607,
    change_tracking=False)

SDK_MESSAGE_PROCESSING_STEPS = Table("sdkmessageprocessingstep", "sdkmessageprocessingsteps",
                                     "sdkmessageprocessingstepid", "name", (
    Column("sdkmessageprocessingstepid", "guid", label="Sdk Message Processing Step"),
    Column("name", "string", 256, label="Name", required=SYSTEM_REQUIRED),
    Column("description", "memo", 256),
    Column("stage", "choice", choices=STAGES, label="Execution Stage", required=SYSTEM_REQUIRED),
    Column("mode", "choice", choices=MODES, label="Execution Mode", required=SYSTEM_REQUIRED),
    Column("rank", "int", label="Execution Order", required=SYSTEM_REQUIRED),
    Column("supporteddeployment", "choice", choices={0: "Server Only", 1: "Microsoft Dynamics 365 Client for Outlook "
           "Only", 2: "Both"}, label="Deployment"),
    Column("asyncautodelete", "bool", label="Asynchronous Automatic Delete"),
    Column("filteringattributes", "string", 100000, label="Filtering Attributes"),
    Column("_sdkmessageid_value", "lookup", navigation={"sdkmessageid": "sdkmessages"}, label="SDK Message",
           required=SYSTEM_REQUIRED),
    Column("_sdkmessagefilterid_value", "lookup", navigation={"sdkmessagefilterid": "sdkmessagefilters"},
           label="SdkMessage Filter"),
    Column("_eventhandler_value", "lookup", navigation={"eventhandler_serviceendpoint": "serviceendpoints"},
           label="Event Handler", required=SYSTEM_REQUIRED),
    Column("statecode", "choice", choices=ENABLED_STATE, label="Status", required=SYSTEM_REQUIRED),
    Column("statuscode", "choice", choices={k: v.label for k, v in ENABLED_STATUS.items()}, label="Status Reason"),
    Column("createdon", "datetime", read_only=True, label="Created On"),
    Column("modifiedon", "datetime", read_only=True, label="Modified On"),
), ENABLED_STATUS, label="Sdk Message Processing Step", collection_label="Sdk Message Processing Steps",
    object_type_code=4608, change_tracking=False)

REGISTRATION_TABLES: dict[str, Table] = {t.entity_set: t for t in (
    SERVICE_ENDPOINTS, SDK_MESSAGES, SDK_MESSAGE_FILTERS, SDK_MESSAGE_PROCESSING_STEPS)}
ALL_TABLES.update(REGISTRATION_TABLES)
