"""The race: FairQueue against Huey, Dramatiq, Celery, RQ and arq on one private Redis
(`make race`; docs/performance.md). Imports nothing here: worker processes of every
library import their task module from this package, some in another venv (arq)."""
