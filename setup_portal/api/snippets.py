"""Ready-to-run examples for the instance page's API panel: a list with `where`, a create and a bulk
create, in curl, Python (requests) and JavaScript (fetch), with the instance's URL filled in and the
token read from INSTANCE_TOKEN (never the token itself)."""

from __future__ import annotations

import json
from dataclasses import dataclass

WHERE = "city = 'Paris' and revenue > 1000000"
FIELDS = "name,city,revenue"
ONE = {"name": "Contoso Ltd", "city": "Paris", "revenue": 2500000}
MANY = {"records": [{"name": "Fabrikam", "city": "Lyon"}, {"name": "Northwind", "city": "Lille"}]}


@dataclass(frozen=True)
class Snippet:
    title: str
    code: str


@dataclass(frozen=True)
class Language:
    key: str
    label: str
    snippets: tuple[Snippet, ...]


def _curl(base: str) -> tuple[Snippet, ...]:
    auth = '-H "Authorization: Bearer $INSTANCE_TOKEN"'
    json_type = '-H "Content-Type: application/json"'
    return (
        Snippet("List with where", f'curl -G {auth} "{base}accounts" \\\n  --data-urlencode "where={WHERE}" '
                                   f'\\\n  --data-urlencode "fields={FIELDS}" --data-urlencode "pageSize=20"'),
        Snippet("Create", f'curl {auth} {json_type} \\\n  "{base}accounts" -d \'{json.dumps(ONE)}\''),
        Snippet("Bulk create", f'curl {auth} {json_type} \\\n  "{base}accounts/bulk" -d \'{json.dumps(MANY)}\''),
    )


def _python(base: str) -> tuple[Snippet, ...]:
    setup = ("import os\nimport requests\n\n"
             f'BASE = "{base}"\nsession = requests.Session()\n'
             'session.headers["Authorization"] = f"Bearer {os.environ[\'INSTANCE_TOKEN\']}"\n\n')
    return (
        Snippet("List with where", setup + f'page = session.get(BASE + "accounts", params={{"where": "{WHERE}", '
                                           f'"fields": "{FIELDS}", "pageSize": 20}}, timeout=30)\n'
                                           'page.raise_for_status()\nfor record in page.json()["records"]:\n'
                                           '    print(record["id"], record.get("name"))'),
        Snippet("Create", setup + f'created = session.post(BASE + "accounts", json={json.dumps(ONE)}, timeout=30)\n'
                                  'created.raise_for_status()\nprint(created.json()["id"])'),
        Snippet("Bulk create", setup + f'answer = session.post(BASE + "accounts/bulk", json={json.dumps(MANY)}, '
                                       'timeout=120)\nanswer.raise_for_status()\n'
                                       'for result in answer.json()["results"]:\n'
                                       '    print(result["index"], result["status"], '
                                       'result["id"] or result["problem"])'),
    )


def _javascript(base: str) -> tuple[Snippet, ...]:
    setup = (f'const BASE = "{base}";\n'
             'const headers = { Authorization: `Bearer ${process.env.INSTANCE_TOKEN}`, '
             '"Content-Type": "application/json" };\n\n')
    return (
        Snippet("List with where", setup + f'const params = new URLSearchParams({{ where: "{WHERE}", '
                                           f'fields: "{FIELDS}", pageSize: "20" }});\n'
                                           'const page = await (await fetch(`${BASE}accounts?${params}`, '
                                           '{ headers })).json();\nconsole.log(page.records);'),
        Snippet("Create", setup + 'const created = await fetch(`${BASE}accounts`, { method: "POST", headers, '
                                  f'body: JSON.stringify({json.dumps(ONE)}) }});\n'
                                  'console.log(created.status, await created.json());'),
        Snippet("Bulk create", setup + 'const answer = await fetch(`${BASE}accounts/bulk`, { method: "POST", '
                                       f'headers, body: JSON.stringify({json.dumps(MANY)}) }});\n'
                                       'console.log((await answer.json()).results);'),
    )


def languages(base: str) -> tuple[Language, ...]:
    """The examples for an instance API at `base` (ending in /api/v1/crm/)."""
    return (Language("curl", "curl", _curl(base)), Language("python", "Python (requests)", _python(base)),
            Language("javascript", "JavaScript (fetch)", _javascript(base)))
