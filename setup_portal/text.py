"""Text that every database stores: for records of what someone typed, refused input included."""

from __future__ import annotations

import re
from typing import Any

# PostgreSQL refuses NUL in text and jsonb ("\u0000 cannot be converted to text"), and a lone
# surrogate cannot be encoded as UTF-8 at all. Validated form values never hold either (Django's
# form fields refuse NUL; request decoding replaces bad bytes), but raw input kept for the record
# (a refused wizard stage) and JSON that arrives escaped can.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """The text with each unstorable character shown as U+FFFD, so the record still says where it was."""
    return UNSTORABLE.sub(REPLACEMENT, text)


def storable_json(value: Any) -> Any:
    """A JSON-ready value (dicts, lists, strings, numbers) with every string and key made storable."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value


# A GUID (what Microsoft calls a UUID) as text: 8-4-4-4-12 hex digits, either case, no braces.
# GUID_TEXT finds one inside other text; GUID_PATTERN (the management API's schema shows it) and
# GUID match the whole value.
GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
GUID_PATTERN = rf"^{GUID_TEXT}$"
GUID = re.compile(GUID_PATTERN)

_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def whole_number(raw: object) -> int | None:
    """`raw` as a whole number when it is 1 to 18 ASCII digits (so it fits a bigint), else None.

    str.isdigit() also says yes to '²' or '٣', which int() then refuses or reads; ids, page numbers
    and page sizes from a caller go through here instead."""
    if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw):
        return int(raw)
    return None
