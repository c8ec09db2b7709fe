"""FairQueue's Django app.

Imports nothing at import time, so that `import queueapp.engine` never loads
Django; `from queueapp import task, Priority` resolves lazily (PEP 562).
"""


def __getattr__(name):
    if name in ("task", "Priority"):
        from . import tasks_api

        return getattr(tasks_api, name)
    if name in ("xcom_push", "xcom_pull", "xcom_task", "axcom_push", "axcom_pull"):
        from . import xcom

        return getattr(xcom, name)
    raise AttributeError(f"module 'queueapp' has no attribute {name!r}")
