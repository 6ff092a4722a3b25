"""Errors the sandbox's Web API answers with, in Dataverse's JSON shape and codes.

Reference: https://learn.microsoft.com/power-apps/developer/data-platform/org-service/web-service-error-codes
and https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
"""

from __future__ import annotations

# Codes used here (hex as the Web API returns them).
QUERY_SYNTAX = "0x80060888"          # OData: bad query option, unknown property, syntax error
RECORD_NOT_FOUND = "0x80040217"      # ObjectDoesNotExist
PRIVILEGE_DENIED = "0x80040220"      # missing privilege / SecLib access check
ACCESS_CHECK = "0x80048306"          # SecLib::AccessCheckEx failed (row not owned)
VERSION_MISMATCH = "0x80060882"      # ConcurrencyVersionMismatch (stale If-Match)
DUPLICATE_RECORD = "0x80040237"      # DuplicateRecord (If-None-Match: * on an existing row)
INVALID_ARGUMENT = "0x80040203"      # InvalidArgument (bad value for a column)
EXPIRED_VERSION_STAMP = "0x80044352"  # change tracking token expired or unknown
NOT_SUPPORTED = "0x8004800d"         # operation not supported on this table
REQUESTS_LIMIT = "0x80072322"        # -2147015902
EXECUTION_TIME_LIMIT = "0x80072321"  # -2147015903
CONCURRENCY_LIMIT = "0x80072326"     # -2147015898


class DataverseError(Exception):
    """An error answered as `{"error": {"code", "message"}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def bad_query(message: str) -> DataverseError:
    return DataverseError(400, QUERY_SYNTAX, message)


def unknown_property(name: str, odata_type: str) -> DataverseError:
    return bad_query(f"Could not find a property named '{name}' on type '{odata_type}'.")


def segment_not_found(segment: str) -> DataverseError:
    """A path segment the Web API has no resource for."""
    return DataverseError(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


def message_not_available(action: str, logical_name: str) -> DataverseError:
    """A bulk message (CreateMultiple, …) the table has not enabled."""
    return DataverseError(400, NOT_SUPPORTED,
                          f"The '{action}' message is not available for the entity '{logical_name}'.")


def not_found(logical_name: str, key: str) -> DataverseError:
    return DataverseError(404, RECORD_NOT_FOUND, f"{logical_name} With Id = {key} Does Not Exist")
