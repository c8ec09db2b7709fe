"""FairQueue's Django app.

Imports nothing at import time, so that `import queueapp.engine` never loads
Django; `from queueapp import task, Priority` resolves lazily (PEP 562), as do batch()
(many tasks, any tenants, one round trip) and get_queue() / get_async_queue()
(the engine client the settings configure).
"""


def __getattr__(name):
    if name in ("task", "Priority"):
        from . import tasks_api

        return getattr(tasks_api, name)
    if name in ("xcom_push", "xcom_pull", "xcom_task", "axcom_push", "axcom_pull"):
        from . import xcom

        return getattr(xcom, name)
    if name == "batch":
        from .batching import batch

        return batch
    if name in ("get_queue", "get_async_queue"):
        from . import conf

        return getattr(conf, name)
    raise AttributeError(f"module 'queueapp' has no attribute {name!r}")
