"""Serializer fields that take JSON's own types only.

DRF's fields coerce ("12" into 12, "yes" into True, 12 into "12"); the schema promises a type,
so a value of another type is refused with a clear message rather than guessed at.
"""

from __future__ import annotations

import base64

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """Whitespace is left to the forms that take the value (they strip it); trimming here first would
    let a value past max_length whose surplus is characters Python counts as whitespace. So are null
    characters: the schema allows any string, so the form's refusal of one (422, per field, as for any
    rule of the pages) is the answer, not a 400 saying the request is off the schema."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Send a string.")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError("Send true or false.")
        return data


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Send a whole number.")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Send one of the listed values as a string.")
        return super().to_internal_value(data)


# Standard base64 (RFC 4648 §4), padded: what `base64` and `openssl base64 -A` print.
BASE64_PATTERN = r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class Base64FileField(StrictCharField):
    """A file's bytes sent as base64 in JSON (a certificate: PEM or PFX), checked to be base64 (its
    pattern shows in the schema); `file_bytes` turns the value into the bytes."""

    def __init__(self, *, max_bytes: int, **kwargs):
        super().__init__(max_length=4 * -(-max_bytes // 3), **kwargs)
        self.validators.append(RegexValidator(BASE64_PATTERN, message="Send the file's bytes as base64."))


def file_bytes(value: str) -> bytes:
    """A Base64FileField's value as the bytes it stands for."""
    return base64.b64decode(value)
