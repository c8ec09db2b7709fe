"""Small display filters for the dashboard."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def ms(value) -> str:
    """A duration in ms, readable: 850 ms, 12.3 s, 4.2 min, 1.5 h."""
    if value is None or value == "":
        return "–"
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    if value < 3_600_000:
        return f"{value / 60_000:.1f} min"
    return f"{value / 3_600_000:.1f} h"


@register.filter
def pct(value) -> str:
    return f"{float(value) * 100:.1f} %" if value is not None else "–"


@register.simple_tag(takes_context=True)
def page_url(context, offset: int) -> str:
    """The current URL with another offset (keeps filters and sort)."""
    query = context["request"].GET.copy()
    query["offset"] = max(0, offset)
    query.pop("partial", None)
    return f"?{query.urlencode()}"


@register.filter
def sub(value, other) -> int:
    return int(value) - int(other)


@register.filter
def epoch(value):
    """Epoch milliseconds -> an aware datetime (for |date and |timesince)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None
