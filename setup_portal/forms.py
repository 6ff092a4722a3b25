"""Form fields and checks shared by the portal's forms (filters, the wizard, instance settings)."""

from __future__ import annotations

import datetime as dt

from django import forms

# Wide enough for any real filter, narrow enough that a day's start and end (and a time zone's
# offset) stay inside what Python's datetime, SQLite and PostgreSQL can all represent.
EARLIEST_FILTER_DATE = dt.date(2000, 1, 1)
LATEST_FILTER_DATE = dt.date(2999, 12, 31)


class FilterDateField(forms.DateField):
    """A YYYY-MM-DD filter date, refused in plain words when it is not a date or out of range."""

    widget = forms.DateInput(attrs={"type": "date", "min": EARLIEST_FILTER_DATE.isoformat(),
                                    "max": LATEST_FILTER_DATE.isoformat()})
    input_formats = ["%Y-%m-%d"]
    default_error_messages = {"invalid": "Enter the date as YYYY-MM-DD, for example 2025-01-31."}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def validate(self, value: dt.date | None) -> None:
        super().validate(value)
        if value and not EARLIEST_FILTER_DATE <= value <= LATEST_FILTER_DATE:
            raise forms.ValidationError(f"Pick a date between {EARLIEST_FILTER_DATE.isoformat()} and "
                                        f"{LATEST_FILTER_DATE.isoformat()}.", code="out_of_range")


def plain_text(value: str, label: str) -> str:
    """Reject control characters: nothing an admin types needs them, and they hide things in logs."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise forms.ValidationError(f"The {label} contains invisible control characters; type it again.")
    return value
