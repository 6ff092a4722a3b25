"""The management API's docs also describe the instance API (its where grammar, paging, errors,
headers, limits): a schema hook appends crm/reference.py's text to the schema's description."""

from __future__ import annotations

from setup_portal.crm.reference import markdown


def postprocess_instance_api_reference(result, generator, request, public):
    info = result.setdefault("info", {})
    info["description"] = (info.get("description", "") + "\n\n" + markdown()).strip()
    return result
