"""A picture of the work: messages a day by outcome, the queue, replies sent and failed; the chart as SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from sqlalchemy import func, select

from mailbot.service.alerts import active_warnings
from mailbot.store import Store, _aware, utcnow
from mailbot.store.models import Message, Reply, ReviewItem

OUTCOME_COLOURS = {  # NHS identity colours, readable on white
    "approved": "#007f3b", "partial": "#41b6e6", "rejected": "#d5281b", "needs_info": "#ffb81c",
    "redirected": "#330072", "informed": "#005eb8", "review": "#ed8b00", "ignored": "#aeb7bd", "closed": "#425563",
}


@dataclass
class Figures:
    days: list[date]
    per_day: dict[date, dict[str, int]]
    queue_size: int
    oldest_waiting: timedelta | None
    replies: dict[str, int]
    warnings: dict[str, str]  # conditions ops are warned of (credentials, failing polls), raised and not cleared


def figures(store: Store, days: int = 30) -> Figures:
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day)
    per_day: dict[date, dict[str, int]] = {}
    with store.session() as session:
        for seen_at, outcome in session.execute(select(Message.seen_at, Message.outcome).where(Message.seen_at >= since)):
            day = _aware(seen_at).date()
            per_day.setdefault(day, {}).setdefault(outcome, 0)
            per_day[day][outcome] += 1
        waiting = session.execute(
            select(func.count(ReviewItem.id), func.min(ReviewItem.created_at)).where(ReviewItem.status == "open")).one()
        replies = dict(session.execute(select(Reply.status, func.count(Reply.id)).group_by(Reply.status)).all())
    oldest = utcnow() - _aware(waiting[1]) if waiting[1] else None
    return Figures([first + timedelta(days=n) for n in range(days)], per_day, waiting[0], oldest, replies,
                   active_warnings(store))


def chart_svg(data: Figures, width: int = 860, height: int = 240) -> str:
    """Stacked bars, one a day; every label escaped, nothing that runs."""
    left, bottom, top = 36, 28, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    most = max([sum(v.values()) for v in data.per_day.values()] + [1])
    bar_w = plot_w / max(len(data.days), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Messages a day by outcome, last {len(data.days)} days" class="chart">']
    for tick in range(0, most + 1, max(1, most // 4)):
        y = top + plot_h - plot_h * tick / most
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{tick}</text>')
    for index, day in enumerate(data.days):
        x = left + index * bar_w + 1
        y = top + plot_h
        for outcome, count in sorted(data.per_day.get(day, {}).items()):
            h = plot_h * count / most
            y -= h
            colour = OUTCOME_COLOURS.get(outcome, "#768692")
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                         f'<title>{escape(day.isoformat())}: {count} {escape(outcome)}</title></rect>')
        if index % 5 == 0 or index == len(data.days) - 1:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 8}" class="axis" text-anchor="middle">{day.strftime("%d %b")}</text>')
    parts.append("</svg>")
    return "".join(parts)
