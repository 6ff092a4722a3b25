from django import template

from setup_portal.azure.errors import Explanation, explain

register = template.Library()


@register.filter
def explained(code: str) -> Explanation:
    """The error catalogue's entry for a code: what happened and what to do."""
    return explain(code)


@register.filter
def seconds(value: float | None) -> str:
    """Elapsed time for people: '45 ms' under a second, '1.4 s' above, '2 min 5 s' above a minute."""
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    return f"{int(value // 60)} min {int(value % 60)} s"
