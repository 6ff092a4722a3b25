from django import template

register = template.Library()


@register.filter
def stage_rows(summary: dict, stage: str) -> list:
    return summary.get(stage, [])


@register.filter
def duration(ms: int | None) -> str:
    """A stage's duration in words: "4 s", "2 min 5 s", "1 h 3 min"."""
    if ms is None:
        return "—"
    seconds = round(ms / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
