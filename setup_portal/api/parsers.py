"""JSON bodies of both APIs: DRF's parser, refusing (400) what it would let through to a 500 or a 502.

- Nesting deeper than Python's recursion limit ([[[[…]]]]) makes json raise RecursionError, which
  DRF's parser does not catch.
- A number too large for a float (1e400) is read as inf, which no JSON encoder sends on: Dataverse
  never saw it, and the call failed as if Dynamics CRM were unreachable (502).
"""

from __future__ import annotations

import codecs
import math

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


class JSONBodyParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            decoded_stream = codecs.getreader(get_encoding(parser_context or {}))(stream)
            return json.load(decoded_stream, parse_constant=json.strict_constant, parse_float=_finite)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
