"""One adaptor per library, imported only when that library races (its imports are lazy):
`make test` runs the FairQueue-only race without the bench group installed."""

from __future__ import annotations

import importlib

from tests.perf.race.adaptors.base import Adaptor, Context, Unavailable

MODULES = {
    "fairqueue": "tests.perf.race.adaptors.fairqueue_adaptor",
    "huey": "tests.perf.race.adaptors.huey_adaptor",
    "dramatiq": "tests.perf.race.adaptors.dramatiq_adaptor",
    "celery": "tests.perf.race.adaptors.celery_adaptor",
    "rq": "tests.perf.race.adaptors.rq_adaptor",
    "arq": "tests.perf.race.adaptors.arq_adaptor",
}
LABELS = {
    "fairqueue": "FairQueue",
    "huey": "Huey",
    "dramatiq": "Dramatiq",
    "celery": "Celery",
    "rq": "RQ",
    "arq": "arq",
}


def load(name: str) -> Adaptor:
    """The adaptor for `name`; its library is imported by its setup(), not here."""
    return importlib.import_module(MODULES[name]).ADAPTOR


__all__ = ["LABELS", "MODULES", "Adaptor", "Context", "Unavailable", "load"]
