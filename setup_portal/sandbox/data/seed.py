"""Deterministic seed rows for an environment: the same environment name and counts give
the same rows (ids, names, owners, dates) on every machine.

Rows are plain dicts of stored values (see store.py): GUIDs as lower-case text, date-times
as ISO 8601 UTC text, booleans as 0/1. Version numbers are given when the rows are inserted.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from .odata_filter import stamp
from .schema import (
    CHANNELS,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUS,
    OPPORTUNITY_STATUS,
    PROJECT_PHASES,
    TABLES,
    TASK_STATUS,
    TIERS,
)

DEFAULT_COUNTS = {"accounts": 300, "contacts": 1000, "leads": 150, "opportunities": 200, "tasks": 300,
                  "annotations": 200, "cr8a2_projects": 40, "cr8a2_milestones": 120}
EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)

FIRST = ["Adele", "Alex", "Allan", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena", "Emre", "Fatima", "Grady",
         "Hana", "Isaiah", "Jana", "Johanna", "Kenji", "Lena", "Lidia", "Lynne", "Maria", "Miriam", "Nestor",
         "Nora", "Omar", "Patti", "Pradeep", "Quinn", "Rene", "Sakura", "Susanna", "Tomas", "Uma", "Victor",
         "Wei", "Yvonne", "Zoe"]
LAST = ["Anderson", "Bowen", "Campbell", "Diaz", "Eriksen", "Fischer", "Garcia", "Gu", "Holt", "Ito", "Jensen",
        "Kowalski", "Larsen", "McKay", "Moreno", "Nakamura", "Novak", "Okafor", "Patel", "Quist", "Rossi",
        "Stubberod", "Tanaka", "Uribe", "Valdes", "Vance", "Weber", "Xu", "Young", "Zhang"]
COMPANY_A = ["Blue", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Wide World", "Proseware", "Alpine",
             "Lakeshore", "Coho", "Margie's", "Trey", "Woodgrove", "Lucerne", "Humongous", "Graphic", "Relecloud",
             "Wingtip", "Southridge", "Datum", "Bellows", "Fourth", "Litware", "Adventure"]
COMPANY_B = ["Coffee", "Traders", "Toys", "Yonder", "Importers", "Ski House", "Winery", "Travel", "Research",
             "Design", "Bank", "Insurance", "Publishing", "Video", "Works", "Systems", "Foods", "Logistics",
             "Outfitters", "Labs"]
SUFFIX = ["", " Inc.", " Ltd.", " LLC", " Group", " & Co.", " GmbH", " AG"]
CITIES = [("Redmond", "WA", "US"), ("Seattle", "WA", "US"), ("Chicago", "IL", "US"), ("Austin", "TX", "US"),
          ("Toronto", "ON", "CA"), ("London", "", "GB"), ("Dublin", "", "IE"), ("Munich", "BY", "DE"),
          ("Paris", "", "FR"), ("Madrid", "", "ES"), ("Sydney", "NSW", "AU"), ("Tokyo", "", "JP")]
JOBS = ["Purchasing Manager", "CEO", "CFO", "Office Manager", "Sales Director", "IT Director", "Buyer",
        "Operations Lead", "Marketing Manager", "Owner"]
TASK_SUBJECTS = ["Call back about pricing", "Send proposal", "Schedule a demo", "Follow up on invoice",
                 "Prepare contract", "Check delivery date", "Book site visit", "Update contact details"]
NOTE_SUBJECTS = ["Meeting notes", "Requirements", "Phone call summary", "Pricing discussion", "Contract draft"]
PROJECT_NAMES = ["Rollout", "Migration", "Pilot", "Renewal", "Integration", "Upgrade", "Training", "Audit"]
MILESTONE_NAMES = ["Kick-off", "Design signed off", "Build complete", "User testing", "Go-live", "Review"]


class SeedRandom(random.Random):
    def guid(self) -> str:
        return str(uuid.UUID(int=self.getrandbits(128), version=4))

    def moment(self, start: datetime, days: int) -> datetime:
        return start + timedelta(minutes=self.randrange(days * 24 * 60))


def generate(env_name: str, owners: list[tuple[str, int]], business_unit: str, fixed: dict[str, list[dict]],
             counts: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """Rows per writable entity set. `owners` are (systemuserid, weight); `fixed` rows come first."""
    counts = {**DEFAULT_COUNTS, **(counts or {})}
    rng = SeedRandom(f"sandbox-dataverse:{env_name}")
    owner_ids = [o for o, _ in owners]
    weights = [w for _, w in owners]
    out: dict[str, list[dict]] = {name: [] for name in DEFAULT_COUNTS}

    def base(owner: str | None = None) -> dict:
        created = rng.moment(EPOCH, 540)
        modified = created + timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        owner = owner or rng.choices(owner_ids, weights)[0]
        return {"_ownerid_value": owner, "_owningbusinessunit_value": business_unit, "_createdby_value": owner,
                "_modifiedby_value": owner, "createdon": stamp(created), "modifiedon": stamp(modified)}

    names: set[str] = set()
    for row in fixed.get("accounts", []):
        names.add(row["name"])
        out["accounts"].append({**base(owner_ids[0]), "statecode": 0, "statuscode": 1, **row})
    while len(out["accounts"]) < counts["accounts"]:
        name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}{rng.choice(SUFFIX)}"
        if name in names:
            name = f"{name} ({len(names)})"
        names.add(name)
        city, region, country = rng.choice(CITIES)
        number = len(out["accounts"]) + 1001
        inactive = rng.random() < 0.08
        out["accounts"].append({
            **base(), "accountid": rng.guid(), "name": name, "accountnumber": f"ACC-{number}",
            "telephone1": f"555-{rng.randrange(10000):04d}", "emailaddress1": f"info@{_domain(name)}",
            "websiteurl": f"https://www.{_domain(name)}", "address1_line1": f"{rng.randrange(1, 9999)} Main Street",
            "address1_city": city, "address1_stateorprovince": region or None,
            "address1_postalcode": f"{rng.randrange(10000, 99999)}", "address1_country": country,
            "revenue": float(rng.randrange(50, 500000) * 1000), "numberofemployees": rng.randrange(2, 20000),
            "industrycode": rng.choice(list(INDUSTRIES)), "creditonhold": int(rng.random() < 0.1),
            "description": None, "statecode": 1 if inactive else 0, "statuscode": 2 if inactive else 1,
        })
    accounts = out["accounts"]

    for row in fixed.get("contacts", []):
        out["contacts"].append({**base(owner_ids[0]), "statecode": 0, "statuscode": 1, **row})
    while len(out["contacts"]) < counts["contacts"]:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        parent = rng.choice(accounts) if rng.random() < 0.9 else None
        owner = parent["_ownerid_value"] if parent and rng.random() < 0.8 else None
        domain = _domain(parent["name"]) if parent else "example.com"
        out["contacts"].append({
            **base(owner), "contactid": rng.guid(), "firstname": first, "lastname": last,
            "fullname": f"{first} {last}", "jobtitle": rng.choice(JOBS),
            "emailaddress1": f"{first}.{last}{rng.randrange(100)}@{domain}".lower(),
            "telephone1": f"555-{rng.randrange(10000):04d}", "mobilephone": None,
            "address1_city": rng.choice(CITIES)[0],
            "birthdate": (EPOCH.date() - timedelta(days=rng.randrange(20 * 365, 65 * 365))).isoformat(),
            "description": None, "_parentcustomerid_value": parent["accountid"] if parent else None,
            "_parentcustomerid_value__type": "account" if parent else None, "statecode": 0, "statuscode": 1,
        })
    contacts = out["contacts"]

    for row in fixed.get("leads", []):
        out["leads"].append({**base(owner_ids[0]), "statecode": 0, "statuscode": 1, **row})
    while len(out["leads"]) < counts["leads"]:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        status = rng.choices(list(LEAD_STATUS), [40, 25, 15, 8, 5, 4, 3])[0]
        company = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
        out["leads"].append({
            **base(), "leadid": rng.guid(), "subject": f"Interested in {rng.choice(COMPANY_B).lower()}",
            "firstname": first, "lastname": last, "fullname": f"{first} {last}", "companyname": company,
            "emailaddress1": f"{first}.{last}@{_domain(company)}".lower(),
            "telephone1": f"555-{rng.randrange(10000):04d}", "address1_city": rng.choice(CITIES)[0],
            "estimatedamount": float(rng.randrange(1, 500) * 500), "leadsourcecode": rng.choice(list(LEAD_SOURCES)),
            "description": None, "statecode": LEAD_STATUS[status].state, "statuscode": status,
        })

    for row in fixed.get("opportunities", []):
        out["opportunities"].append({**base(owner_ids[0]), "statecode": 0, "statuscode": 1, **row})
    while len(out["opportunities"]) < counts["opportunities"]:
        account = rng.choice(accounts)
        status = rng.choices(list(OPPORTUNITY_STATUS), [50, 10, 20, 10, 10])[0]
        out["opportunities"].append({
            **base(account["_ownerid_value"]), "opportunityid": rng.guid(),
            "name": f"{rng.randrange(2, 200)} units for {account['name']}",
            "estimatedvalue": float(rng.randrange(1, 400) * 1000),
            "estimatedclosedate": (EPOCH.date() + timedelta(days=rng.randrange(30, 700))).isoformat(),
            "closeprobability": rng.randrange(0, 101, 5), "description": None,
            "_customerid_value": account["accountid"], "_customerid_value__type": "account",
            "_parentaccountid_value": account["accountid"], "_parentcontactid_value": None,
            "statecode": OPPORTUNITY_STATUS[status].state, "statuscode": status,
        })

    regarding = [("account", accounts, "accountid"), ("contact", contacts, "contactid"),
                 ("lead", out["leads"], "leadid"), ("opportunity", out["opportunities"], "opportunityid")]
    while len(out["tasks"]) < counts["tasks"]:
        kind, rows, key = rng.choice(regarding)
        target = rng.choice(rows)
        status = rng.choices(list(TASK_STATUS), [30, 20, 5, 5, 30, 10])[0]
        row = base(target["_ownerid_value"])
        out["tasks"].append({
            **row, "activityid": rng.guid(), "subject": rng.choice(TASK_SUBJECTS),
            "description": None, "scheduledend": stamp(rng.moment(EPOCH, 600)),
            "prioritycode": rng.choice([0, 1, 1, 2]),
            "percentcomplete": 100 if TASK_STATUS[status].state == 1 else rng.randrange(0, 100, 10),
            "activitytypecode": "task", "_regardingobjectid_value": target[key],
            "_regardingobjectid_value__type": kind, "statecode": TASK_STATUS[status].state, "statuscode": status,
        })

    while len(out["annotations"]) < counts["annotations"]:
        kind, rows, key = rng.choice(regarding)
        target = rng.choice(rows)
        out["annotations"].append({
            **base(target["_ownerid_value"]), "annotationid": rng.guid(), "subject": rng.choice(NOTE_SUBJECTS),
            "notetext": f"Talked to {rng.choice(FIRST)} about next steps.", "filename": None, "mimetype": None,
            "isdocument": 0, "objecttypecode": kind, "_objectid_value": target[key], "_objectid_value__type": kind,
        })
    _customise(SeedRandom(f"sandbox-dataverse:{env_name}:cr8a2"), out, fixed, counts, base)
    return {name: [_complete(name, row) for row in rows] for name, rows in out.items()}


def _customise(rng: SeedRandom, out: dict[str, list[dict]], fixed: dict[str, list[dict]], counts: dict[str, int],
               base) -> None:
    """The publisher's tables and columns, from a random stream of their own: the standard rows
    stay what they were before the customisations existed."""
    accounts, contacts = out["accounts"], out["contacts"]
    for row in fixed.get("cr8a2_projects", []):
        out["cr8a2_projects"].append({**base(), "statecode": 0, "statuscode": 1, **row})
    while len(out["cr8a2_projects"]) < counts["cr8a2_projects"]:
        account = rng.choice(accounts)
        number = len(out["cr8a2_projects"]) + 1
        out["cr8a2_projects"].append({
            **base(account["_ownerid_value"]), "cr8a2_projectid": rng.guid(),
            "cr8a2_name": f"{account['name']} {rng.choice(PROJECT_NAMES)}", "cr8a2_code": f"PRJ-{number:04d}",
            "cr8a2_phase": rng.choice(list(PROJECT_PHASES)), "cr8a2_budget": float(rng.randrange(5, 500) * 1000),
            "cr8a2_startdate": (EPOCH.date() + timedelta(days=rng.randrange(0, 500))).isoformat(),
            "_cr8a2_accountid_value": account["accountid"], "statecode": 0, "statuscode": 1,
        })
    projects = out["cr8a2_projects"]
    for row in fixed.get("cr8a2_milestones", []):
        out["cr8a2_milestones"].append({**base(), "statecode": 0, "statuscode": 1, **row})
    while len(out["cr8a2_milestones"]) < counts["cr8a2_milestones"]:
        project = rng.choice(projects)
        out["cr8a2_milestones"].append({
            **base(project["_ownerid_value"]), "cr8a2_milestoneid": rng.guid(),
            "cr8a2_name": rng.choice(MILESTONE_NAMES), "cr8a2_duedate": stamp(rng.moment(EPOCH, 600)),
            "cr8a2_done": int(rng.random() < 0.4), "_cr8a2_projectid_value": project["cr8a2_projectid"],
            "statecode": 0, "statuscode": 1,
        })
    by_account = {p["_cr8a2_accountid_value"]: p["cr8a2_projectid"] for p in projects}
    for account in accounts:
        account.setdefault("cr8a2_tier", rng.choice([*TIERS, None]))
        account.setdefault("cr8a2_annualbudget", float(rng.randrange(1, 200) * 5000) if rng.random() < 0.6 else None)
        account.setdefault("_cr8a2_projectid_value", by_account.get(account["accountid"]))
        account.setdefault("cr8a2_renewaldate",
                           (EPOCH.date() + timedelta(days=rng.randrange(30, 700))).isoformat()
                           if rng.random() < 0.5 else None)
    for contact in contacts:
        contact.setdefault("cr8a2_tier", rng.choice([*TIERS, None, None]))
        contact.setdefault("cr8a2_preferredchannel", rng.choice([*CHANNELS, None]))
        contact.setdefault("cr8a2_firstcontactdate", (EPOCH.date() - timedelta(days=rng.randrange(0, 900))).isoformat())


def _domain(name: str) -> str:
    letters = "".join(ch for ch in name.lower() if ch.isalnum())
    return f"{letters[:24] or 'example'}.example"


def _complete(entity_set: str, row: dict) -> dict:
    """Every stored column present (None where the seed has no value)."""
    table = TABLES[entity_set]
    full = {c.name: row.get(c.name) for c in table.columns if c.name != "versionnumber"}
    for column in table.columns:
        if column.polymorphic:
            full[column.type_column] = row.get(column.type_column)
    return full
