"""The database's worker configurations and the settings' queue defaults, in the original's format."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from django.conf import settings

from .. import conf
from ..models import WorkerConfig
from .reading import QUEUE_SETTINGS, STEAL_ALL


# -- export -----------------------------------------------------------------------------------
def export_data() -> dict[str, Any]:
    """The database's worker configurations and the settings' queue defaults, as the original's
    file has them (plus `enabled: false` / `lease_seconds` when a worker has them)."""
    names: dict[int, dict[str, list[str]]] = {}
    for relation in ("assigned_users", "steal_targets"):
        through = getattr(WorkerConfig, relation).through
        for pk, key in through.objects.values_list("workerconfig_id", "tenant__key"):
            names.setdefault(pk, {}).setdefault(relation, []).append(key)
    workers = []
    for config in WorkerConfig.objects.order_by("worker_id"):
        mine = names.get(config.pk, {})
        steal = sorted(mine.get("steal_targets", [])) + ([STEAL_ALL] if config.steal_all else [])
        item: dict[str, Any] = {
            "id": config.worker_id,
            "assigned_users": sorted(mine.get("assigned_users", [])),
            "steal_targets": steal,
            "poll_interval_seconds": float(config.poll_interval),
            "max_concurrent_tasks": int(config.concurrency),
        }
        if not config.enabled:
            item["enabled"] = False
        if config.lease_seconds:
            item["lease_seconds"] = float(config.lease_seconds)
        workers.append(item)
    engine = conf.engine_config()
    data: dict[str, Any] = {}
    redis_section = _redis_section()
    if redis_section:
        data["redis"] = redis_section
    data["workers"] = workers
    data["queue"] = {key: getattr(engine, attr) for key, (_, _, attr, _) in QUEUE_SETTINGS.items()}
    return data


def _redis_section() -> dict[str, Any] | None:
    """REDIS_URL as the original's host/port/db/ssl (and username); never the password. None
    when the URL says more than those can (a unix socket, a bad URL)."""
    try:
        parts = urlsplit(settings.REDIS_URL)
        port = parts.port or 6379
        db_text = parts.path.strip("/") or "0"
    except ValueError:
        return None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or not db_text.isdigit():
        return None
    section: dict[str, Any] = {"host": parts.hostname, "port": port, "db": int(db_text)}
    if parts.scheme == "rediss":
        section["ssl"] = True
    username = conf.fairqueue_settings().get("REDIS", {}).get("USERNAME") or (
        unquote(parts.username) if parts.username else None
    )
    if username:
        section["username"] = username
    return section


class _Dumper(yaml.SafeDumper):
    """Block mappings, lists of names on one line, list items indented (as the original's sample)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
    flat = all(not isinstance(item, (dict, list)) for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)


_Dumper.add_representer(list, _represent_list)


def export_text(data: dict[str, Any] | None = None) -> str:
    header = (
        "# FairQueue worker configurations in the original FairQueue's YAML format\n"
        "# (manage.py exportconfig; read back with manage.py importconfig FILE).\n"
        "# Not in this format: tenants' weights, names and paused flags; the Redis password.\n"
    )
    data = export_data() if data is None else data
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
    return header + body
