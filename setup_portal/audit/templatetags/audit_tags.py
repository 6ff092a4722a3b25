from django import template

from setup_portal.audit.models import without_hints

register = template.Library()


@register.filter
def visible_items(data: dict, show_hints: bool) -> list:
    """An event's data, key by key, as this viewer may see it (no secret hints unless `show_hints`)."""
    return list((data if show_hints else without_hints(data)).items())
