"""The instance API's static reference (the `where` grammar with every operator, paging, writes, bulk and
batch, errors, headers, limits) as markdown, written from the constants the code itself uses, so the
management API's docs (/api/v1/docs/, through a schema hook) and anything else that shows it say the same."""

from __future__ import annotations

from .bulk import MAX_RECORDS
from .query import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from .where import MAX_CONDITIONS, MAX_IN_ITEMS, MAX_LENGTH, OPERATORS

MAX_BATCH_OPERATIONS = 100  # operations in one `POST batch` (api/batch_views.py)

ERRORS = (
    ("400", "the request: a `where`, a field, a value (the field is named, with the closest known names)"),
    ("401", "no instance token, or a wrong, replaced or deleted one (`WWW-Authenticate: Bearer`)"),
    ("403", "the instance is disabled, or Dynamics CRM refused (its `code`)"),
    ("404", "no such table or record"),
    ("405", "a write to a read-only table"),
    ("409", "the instance needs re-authentication, is provisioning or failed"),
    ("412", "`If-Match` names an older version of the record"),
    ("415 / 422", "not JSON; an `Idempotency-Key` reused with another body"),
    ("429", "too many calls (the instance's allowance, or Dynamics CRM's); wait `Retry-After` seconds"),
    ("502 / 503 / 504", "Dynamics CRM or Azure AD failed, is unavailable, or did not answer in time"),
)


def markdown() -> str:
    comparisons = ", ".join(f"`{op}`" for op in OPERATORS) + ", `<>`"
    errors = "\n".join(f"| {status} | {when} |" for status, when in ERRORS)
    return f"""## The instance API (`/api/v1/crm/`)

Applications call it with the instance token (`Authorization: Bearer dci_…`), not an API key. Every
table of the instance's environment is served by its logical or entity set name (`GET objects` lists
them, `GET objects/<name>/metadata` their fields, `GET openapi.json` an OpenAPI document of them all).

### `where`

A filter over field names (case ignored), e.g.
`name = 'Contoso' and revenue > 1000000 and city in ('Paris', 'Lyon')`.

| form | meaning |
|---|---|
| {comparisons} | comparisons (`<>` is `!=`); text compares without regard to case |
| `like 'Con%'`, `not like` | `%` at the start and/or end: starts with, ends with, contains |
| `in (…)`, `not in (…)` | one of up to {MAX_IN_ITEMS} values |
| `is null`, `is not null` | the field has no value |
| `and`, `or`, `not`, `( )` | combine; `not` binds tightest, then `and`, then `or` |

Literals: `'text'` (`''` is a quote), numbers, `true`/`false`, dates `2025-01-31`, date-times
`2025-01-31T09:30:00Z`, GUIDs; choices by value. At most {MAX_LENGTH:,} characters and {MAX_CONDITIONS}
conditions.

### Lists and paging

`GET <table>?where=&fields=a,b&orderBy=a desc,b&pageSize=` answers `{{"records": [...], "nextPage": …}}`;
`pageSize` 1–{MAX_PAGE_SIZE} ({DEFAULT_PAGE_SIZE}). Send `nextPage` alone for the next page (signed, bound
to the instance and table, valid one hour).

### Writes

`POST <table>` (201, `Location`), `PATCH <table>/<id>` (never creates; `If-Match: <_etag>` → 412 when
stale), `DELETE <table>/<id>`. `Idempotency-Key: <key>` on a POST replays its first answer for 24 hours
(`Idempotent-Replayed: true`). `POST <table>/bulk` `{{"records": [...], "mode": "create"|"upsert",
"key": "id"|<field>}}` writes up to {MAX_RECORDS:,} records and answers each one's outcome (index,
status, id, problem). `POST batch` `{{"operations": [{{"method", "path", "body"}}], "atomic": true}}` runs
up to {MAX_BATCH_OPERATIONS} operations in one Dynamics CRM batch (all or nothing when atomic).

### Errors

Problem details (RFC 9457, `application/problem+json`): `type`, `title`, `status`, `detail`,
`instance`, `request_id` (also the `X-Request-ID` header), and where they apply `code`, `fix`,
`errors` (per field), `knownFields`.

| status | when |
|---|---|
{errors}

### Headers and limits

Every answer carries `X-Request-ID`. Each instance has an allowance of calls (`CRM_RATE_LIMIT`; a bulk or
batch call counts once); wrong tokens from one address are limited too (`AUTH_FAILURE_LIMIT`). Over
either: 429 with `Retry-After`. Dynamics CRM's own limits apply behind them.
"""
