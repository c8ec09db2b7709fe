"""Django's task priorities (-100..100, higher first) <-> FairQueue's six levels.

| Django priority | FairQueue level |          | level -> Django |
| 100             | CRITICAL (6)    |          | 100             |
| 50 .. 99        | VERY_HIGH (5)   |          | 50              |
| 10 .. 49        | HIGH (4)        |          | 10              |
| -9 .. 9         | NORMAL (3)      | default  | 0               |
| -49 .. -10      | LOW (2)         |          | -10             |
| -100 .. -50     | VERY_LOW (1)    |          | -50             |
"""

from __future__ import annotations

from .engine.task import Priority

TO_DJANGO = {
    Priority.CRITICAL: 100,
    Priority.VERY_HIGH: 50,
    Priority.HIGH: 10,
    Priority.NORMAL: 0,
    Priority.LOW: -10,
    Priority.VERY_LOW: -50,
}


def to_level(priority: int) -> Priority:
    if priority >= 100:
        return Priority.CRITICAL
    if priority >= 50:
        return Priority.VERY_HIGH
    if priority >= 10:
        return Priority.HIGH
    if priority > -10:
        return Priority.NORMAL
    if priority > -50:
        return Priority.LOW
    return Priority.VERY_LOW


def to_django(level: int) -> int:
    return TO_DJANGO[Priority(level)]
