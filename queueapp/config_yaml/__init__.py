"""The original FairQueue's YAML configuration (its config/fairque_config.yaml) to and from the
Tenant and WorkerConfig rows: `manage.py importconfig` and `manage.py exportconfig`.

- read() / parse(): PyYAML's SafeLoader composes the node tree (yaml.safe_load's semantics: plain
  YAML types only, no Python tags) and the nodes are walked by hand, so every error names the line
  of the value at fault. Nothing is written while reading.
- plan(): what an import changes in the database (tenants created, worker configurations created
  or updated, with the fields that change), checked against the rows already there.
- apply(): writes a plan in one transaction with bulk queries, so no per-row signal pushes to Redis;
  the caller then runs sync.full_sync() once, as `syncqueue` does, and reports what it did.
- export_text(): the worker configurations from the database and the queue defaults from the
  current settings, in the same format: import -> export -> import changes nothing.

The `queue` and `redis` sections have no rows: they become settings lines to set (FAIRQUEUE keys,
REDIS_URL); keys FairQueue does not use are listed as ignored, never an error.
"""

from .changes import Plan, apply, plan
from .export import export_data, export_text
from .reading import ConfigFile, ConfigFileError, parse, read

__all__ = ["ConfigFile", "ConfigFileError", "Plan", "apply", "export_data", "export_text", "parse", "plan", "read"]
