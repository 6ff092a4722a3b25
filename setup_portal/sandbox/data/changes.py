"""The change generator behind `POST /_sandbox/dataverse/{env}/changes`: creates, updates and
deletes per table, made through the same service functions a Web API request uses, as a user
of the environment would make them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from . import errors, seed
from .errors import DataverseError
from .odata_filter import stamp
from .schema import TABLES, Table
from .service import EnvironmentData, Principal, create, delete, update

GENERATED_FIELDS = {"accounts": ("telephone1", "description"), "contacts": ("jobtitle", "telephone1"),
                    "leads": ("subject", "description"), "opportunities": ("description", "closeprobability"),
                    "tasks": ("description", "percentcomplete"), "annotations": ("notetext",),
                    "cr8a2_projects": ("cr8a2_code", "cr8a2_budget"), "cr8a2_milestones": ("cr8a2_name",)}


def generate_changes(data: EnvironmentData, principal: Principal, plan: dict[str, dict[str, int]],
                     rng: random.Random, base: str) -> list[dict]:
    """Creates, updates and deletes per table, as a user of the environment would make them."""
    done: list[dict] = []
    for entity_set, ops in plan.items():
        table = TABLES[entity_set]
        for _ in range(ops.get("create", 0)):
            row = create(data, principal, table, _new_body(data, entity_set, rng), base)
            done.append(_entry(table, row, "create"))
        mine = "" if principal.sees_everything else ' WHERE "_ownerid_value" = ?'
        existing = [r[0] for r in data.store.tuples(
            f'SELECT "{table.primary_key}" FROM "{entity_set}"{mine} ORDER BY "{table.primary_key}"',
            [] if principal.sees_everything else [principal.id])]
        targets = rng.sample(existing, min(len(existing), ops.get("update", 0) + ops.get("delete", 0)))
        for key in targets[: ops.get("update", 0)]:
            row = update(data, principal, table, key, _changed_body(entity_set, rng), base, None)
            done.append(_entry(table, row, "update"))
        for key in targets[ops.get("update", 0):]:
            delete(data, principal, table, key, None)
            done.append({"table": entity_set, "op": "delete", "id": key, "versionnumber": data.store.version})
    return done


def _entry(table: Table, row: dict, op: str) -> dict:
    return {"table": table.entity_set, "op": op, "id": row[table.primary_key], "versionnumber": row["versionnumber"]}


def _new_body(data: EnvironmentData, entity_set: str, rng: random.Random) -> dict:
    first, last = rng.choice(seed.FIRST), rng.choice(seed.LAST)
    company = f"{rng.choice(seed.COMPANY_A)} {rng.choice(seed.COMPANY_B)}"
    account = data.store.tuples('SELECT "accountid" FROM "accounts" ORDER BY "accountid" LIMIT 1 OFFSET ?',
                                (rng.randrange(50),))
    account_ref = f"/accounts({account[0][0]})" if account else None
    if entity_set == "accounts":
        return {"name": f"{company} (generated)", "telephone1": f"555-{rng.randrange(10000):04d}",
                "revenue": float(rng.randrange(10, 900) * 1000)}
    if entity_set == "contacts":
        body = {"firstname": first, "lastname": last, "emailaddress1": f"{first}.{last}@example.com".lower()}
        if account_ref:
            body["parentcustomerid_account@odata.bind"] = account_ref
        return body
    if entity_set == "leads":
        return {"subject": f"Interested in {rng.choice(seed.COMPANY_B).lower()}", "firstname": first,
                "lastname": last, "companyname": company}
    if entity_set == "opportunities":
        body = {"name": f"{rng.randrange(2, 90)} units (generated)",
                "estimatedvalue": float(rng.randrange(1, 90) * 1000)}
        if account_ref:
            body["parentaccountid@odata.bind"] = account_ref
        return body
    if entity_set == "tasks":
        body = {"subject": rng.choice(seed.TASK_SUBJECTS), "prioritycode": rng.choice([0, 1, 2]),
                "scheduledend": stamp(datetime.now(UTC) + timedelta(days=rng.randrange(1, 30)))}
        if account_ref:
            body["regardingobjectid_account_task@odata.bind"] = account_ref
        return body
    if entity_set == "cr8a2_projects":
        body = {"cr8a2_name": f"{rng.choice(seed.PROJECT_NAMES)} (generated)",
                "cr8a2_budget": float(rng.randrange(5, 500) * 1000)}
        if account_ref:
            body["cr8a2_AccountId@odata.bind"] = account_ref
        return body
    if entity_set == "cr8a2_milestones":
        project = data.store.tuples('SELECT "cr8a2_projectid" FROM "cr8a2_projects" ORDER BY "cr8a2_projectid" '
                                    'LIMIT 1 OFFSET ?', (rng.randrange(10),))
        if not project:
            raise DataverseError(400, errors.INVALID_ARGUMENT, "A milestone needs a project: there is none.")
        return {"cr8a2_name": f"{rng.choice(seed.MILESTONE_NAMES)} (generated)",
                "cr8a2_ProjectId@odata.bind": f"/cr8a2_projects({project[0][0]})"}
    body = {"subject": rng.choice(seed.NOTE_SUBJECTS), "notetext": f"Generated note {rng.randrange(10**6)}"}
    if account_ref:
        body["objectid_account@odata.bind"] = account_ref
    return body


def _changed_body(entity_set: str, rng: random.Random) -> dict:
    body: dict = {}
    for name in GENERATED_FIELDS[entity_set]:
        column = TABLES[entity_set].by_name[name]
        if column.kind in {"int", "money"}:
            body[name] = rng.randrange(0, 101)
        elif name == "telephone1":
            body[name] = f"555-{rng.randrange(10000):04d}"
        else:
            text = f"Changed by the sandbox change generator ({rng.randrange(10**6)})"
            body[name] = text[: column.max_length or None]
    return body
