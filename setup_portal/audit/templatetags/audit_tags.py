from django import template

from setup_portal.audit.models import without_hints

register = template.Library()


@register.filter
def visible_items(data: dict, show_hints: bool) -> list:
    """An event's data, key by key, as this viewer may see it (no secret hints unless `show_hints`).
    A change of the event's target itself ("from" and "to" at the top) comes first, as one item."""
    items = dict(data if show_hints else without_hints(data))
    if "from" in items and "to" in items:
        return [("changed", {"from": items.pop("from"), "to": items.pop("to")}), *items.items()]
    return list(items.items())


@register.filter
def readable(value) -> str:
    """An event's value in words rather than Python's: {"from": False, "to": True} as "no → yes",
    lists joined with commas, nested values as "key: value"."""
    if isinstance(value, dict):
        if set(value) == {"from", "to"}:
            return f"{readable(value['from'])} → {readable(value['to'])}"
        return "; ".join(f"{key}: {readable(item)}" for key, item in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value) or "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    return str(value)
