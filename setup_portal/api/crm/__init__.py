"""The instance API (/api/v1/crm/): the hot path from an instance token to Dataverse and back —
views, gateway, upstream calls, rate limit, call log, idempotency, bulk and batch, the per-instance
schema (objects, metadata, OpenAPI)."""
