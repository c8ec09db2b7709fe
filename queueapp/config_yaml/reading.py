"""Reading the original FairQueue YAML: PyYAML's SafeLoader composes the node tree and the
nodes are walked by hand, so every error names the line of the value at fault; nothing is
written while reading."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError

from .. import conf
from ..engine.errors import InvalidTask
from ..engine.task import check_name
from ..models import WorkerConfig

STEAL_ALL = "*"

WORKER_KEYS = (  # the original's WorkerConfig keys FairQueue maps, plus two FairQueue extensions
    "id",
    "assigned_users",
    "steal_targets",
    "poll_interval_seconds",
    "max_concurrent_tasks",
    "enabled",  # FairQueue only: WorkerConfig.enabled (exported when false)
    "lease_seconds",  # FairQueue only: WorkerConfig.lease_seconds (exported when set)
)
WORKER_IGNORED = {
    "task_timeout_seconds": "not used: FairQueue has no per-task time limit; a running task holds a lease "
    '(FAIRQUEUE["LEASE_SECONDS"]) that its worker renews',
    "graceful_shutdown_timeout": "not stored: pass it to the worker as `runworker --grace {value}`",
}
# queue key -> (FAIRQUEUE key, environment variable, EngineConfig field, smallest value)
QUEUE_SETTINGS = {
    "default_max_retries": ("MAX_RETRIES", "FAIRQUEUE_MAX_RETRIES", "max_retries", 0),
    "xcom_ttl_seconds": ("XCOM_TTL", "FAIRQUEUE_XCOM_TTL", "xcom_ttl", 1),
}
QUEUE_IGNORED = {
    "stats_prefix": 'not used: every key, stats included, lives under FAIRQUEUE["PREFIX"], default {fq}',
    "enable_pipeline_optimization": "not used: batches are always pipelined",
    "pipeline_batch_size": 'not used; the closest is FAIRQUEUE["BATCH_CHUNK"], tasks per script call',
    "pipeline_timeout": "not used",
    "lua_script_cache_size": "not used: the scripts are loaded once as a Redis Functions library",
    "max_retry_attempts": "not used: retries of Redis commands are REDIS_RETRIES",
    "default_task_timeout": "not used: FairQueue has no per-task time limit",
    "queue_cleanup_interval": "not used: workers reap expired leases and promote due tasks continuously",
    "stats_aggregation_interval": "not used: the Lua scripts keep the stats at every operation",
}
REDIS_KEYS = ("host", "port", "db", "password", "username", "ssl")
REDIS_DEFAULTS = {"host": "localhost", "port": 6379, "db": 0}

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigFileError(ValueError):
    """A file that cannot be imported; the message names the file and, when known, the line."""


# -- what the file says ---------------------------------------------------------------------
@dataclass
class WorkerSpec:
    """One item of `workers`: only the keys the file sets (others are left as they are)."""

    worker_id: str
    line: int
    fields: dict[str, Any] = field(default_factory=dict)  # WorkerConfig field -> value
    assigned: list[str] | None = None  # None: the key is absent
    steal: list[str] | None = None  # tenant keys, without "*" (that is fields["steal_all"])


@dataclass
class SettingLine:
    name: str  # FAIRQUEUE["MAX_RETRIES"] or REDIS_URL
    value: str  # as it is written in settings.py or the environment
    env: str  # the environment variable that sets it, or ""
    current: str | None  # the value in effect now, or None when unknown
    line: int
    secret: bool = False

    def text(self) -> str:
        if self.secret:
            return f"{self.name}=...  # redis.password from the file (line {self.line}), not printed"
        if self.name.startswith("FAIRQUEUE["):
            shown, notes = f"{self.name} = {self.value}", [f"or {self.env}={self.value} in the environment"]
        else:
            shown, notes = f"{self.name}={self.value}", []
        if self.current is not None:
            notes.append("already so" if self.current == self.value else f"now {self.current or 'unset'}")
        return f"{shown}  # {'; '.join(notes)}" if notes else shown


@dataclass
class ConfigFile:
    source: str
    workers: list[WorkerSpec] = field(default_factory=list)
    settings: list[SettingLine] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "line N: queue.stats_prefix ('fq'): why"

    def users(self) -> list[str]:
        """Every tenant the workers name, in the order of the file, once each."""
        seen: dict[str, None] = {}
        for worker in self.workers:
            for key in (worker.assigned or []) + (worker.steal or []):
                seen.setdefault(key, None)
        return list(seen)


class _Reader:
    """Walks composed YAML nodes; scalars are built by the SafeLoader's own constructor."""

    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader, self.source = loader, source

    def error(self, node: yaml.Node | None, message: str) -> ConfigFileError:
        where = f", line {node.start_mark.line + 1}" if node is not None else ""
        return ConfigFileError(f"{self.source}{where}: {message}")

    @staticmethod
    def line(node: yaml.Node) -> int:
        return node.start_mark.line + 1

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            kind = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            raise self.error(node, f"{what} must be a single value, got {kind}")
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.error(node, f"{what}: {getattr(exc, 'problem', None) or exc}") from exc

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """key -> (key node, value node). A key written twice is an error (safe_load would keep the
        last); keys merged in (<<: *anchor) are overridden by the mapping's own, as safe_load does."""
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP_TAG:
            raise self.error(node, f"{what} must be a mapping (key: value lines), got {_describe_node(node)}")
        own: dict[str, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.scalar(key_node, f"a key of {what}")
            if not isinstance(key, str):
                raise self.error(key_node, f"keys of {what} must be names, got {key!r}")
            if key in own:
                raise self.error(key_node, f"{what} sets {key} twice (first on line {self.line(own[key])})")
            own[key] = key_node
        try:
            self.loader.flatten_mapping(node)  # merged pairs first, then the mapping's own
        except yaml.YAMLError as exc:
            raise self.error(node, f"{what}: {getattr(exc, 'problem', None) or exc}") from exc
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, f"a key of {what}")
            if not isinstance(key, str):
                raise self.error(key_node, f"keys of {what} must be names, got {key!r}")
            out[key] = (key_node, value_node)
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode) or node.tag != _SEQ_TAG:
            raise self.error(node, f"{what} must be a list, got {_describe_node(node)}")
        return list(node.value)


def _describe_node(node: yaml.Node) -> str:
    if node.tag not in (_MAP_TAG, _SEQ_TAG) and not isinstance(node, yaml.ScalarNode):
        return f"a value tagged {node.tag} (only plain YAML is read, as yaml.safe_load does)"
    if isinstance(node, yaml.ScalarNode):
        return repr(node.value) if node.value else "nothing"
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(value), "a value")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _run_validators(reader: _Reader, node: yaml.Node, what: str, model_field: str, value: Any) -> None:
    """The model field's own validators (the ranges the admin and the dashboard enforce)."""
    try:
        WorkerConfig._meta.get_field(model_field).run_validators(value)
    except ValidationError as exc:
        raise reader.error(node, f"{what}: {' '.join(exc.messages)} Got {value!r}.") from exc


def _name(reader: _Reader, node: yaml.Node, what: str) -> str:
    value = reader.scalar(node, what)
    if not isinstance(value, str):
        hint = " (quote it)" if value is not None else ""
        raise reader.error(node, f"{what} must be a string{hint}, got {value!r} ({_type_name(value)})")
    try:
        return check_name(what, value)
    except InvalidTask as exc:
        raise reader.error(node, str(exc)) from exc


def _names(reader: _Reader, node: yaml.Node, what: str, allow_all: bool) -> tuple[list[str], bool]:
    """(tenant keys, whether "*" was listed); a tenant listed twice is an error."""
    keys: dict[str, int] = {}
    steal_all = False
    for item in reader.sequence(node, what):
        value = reader.scalar(item, f"an item of {what}")
        if value == STEAL_ALL and isinstance(value, str):
            if not allow_all:
                raise reader.error(item, f'"*" (any tenant) is only allowed in steal_targets, not in {what}')
            steal_all = True
            continue
        key = _name(reader, item, f"tenant in {what}")
        if key in keys:
            raise reader.error(item, f"{what} lists {key} twice (first on line {keys[key]})")
        keys[key] = reader.line(item)
    return list(keys), steal_all


def _worker(reader: _Reader, node: yaml.Node, index: int, seen: dict[str, int]) -> tuple[WorkerSpec, list[str]]:
    what = f"workers[{index}]"
    items = reader.mapping(node, what)
    ignored = []
    for key, (key_node, value_node) in items.items():
        if key in WORKER_IGNORED:
            shown = _shown(value_node)
            why = WORKER_IGNORED[key].replace("{value}", shown)
            ignored.append(f"line {reader.line(key_node)}: {what}.{key} = {shown} ({why})")
        elif key not in WORKER_KEYS:
            known = ", ".join(WORKER_KEYS + tuple(WORKER_IGNORED))
            raise reader.error(key_node, f"{what}: unknown key {key!r} (a worker has {known})")
    if "id" not in items:
        raise reader.error(node, f"{what} has no id")
    worker_id = _name(reader, items["id"][1], f"{what}.id")
    if worker_id in seen:
        raise reader.error(items["id"][1], f"worker {worker_id} is listed twice (first on line {seen[worker_id]})")
    seen[worker_id] = reader.line(items["id"][1])
    spec = WorkerSpec(worker_id, reader.line(node))
    label = f"worker {worker_id}"
    if "assigned_users" in items:
        spec.assigned, _ = _names(reader, items["assigned_users"][1], f"{label}: assigned_users", allow_all=False)
    if "steal_targets" in items:
        spec.steal, spec.fields["steal_all"] = _names(
            reader, items["steal_targets"][1], f"{label}: steal_targets", allow_all=True
        )
    if spec.assigned is not None and spec.steal is not None:
        both = [key for key in spec.assigned if key in spec.steal]
        if both:
            raise reader.error(
                items["steal_targets"][1],
                f"{label}: {', '.join(both)} cannot be both in assigned_users and in steal_targets",
            )
    if "poll_interval_seconds" in items:
        value_node = items["poll_interval_seconds"][1]
        value = reader.scalar(value_node, f"{label}: poll_interval_seconds")
        if not _is_number(value):
            raise reader.error(value_node, f"{label}: poll_interval_seconds must be a number of seconds, got {value!r}")
        _run_validators(reader, value_node, f"{label}: poll_interval_seconds", "poll_interval", float(value))
        spec.fields["poll_interval"] = float(value)
    if "max_concurrent_tasks" in items:
        value_node = items["max_concurrent_tasks"][1]
        value = reader.scalar(value_node, f"{label}: max_concurrent_tasks")
        if not _is_int(value):
            raise reader.error(value_node, f"{label}: max_concurrent_tasks must be an integer, got {value!r}")
        _run_validators(reader, value_node, f"{label}: max_concurrent_tasks", "concurrency", value)
        spec.fields["concurrency"] = value
    if "enabled" in items:
        value_node = items["enabled"][1]
        value = reader.scalar(value_node, f"{label}: enabled")
        if not isinstance(value, bool):
            raise reader.error(value_node, f"{label}: enabled must be true or false, got {value!r}")
        spec.fields["enabled"] = value
    if "lease_seconds" in items:
        value_node = items["lease_seconds"][1]
        value = reader.scalar(value_node, f"{label}: lease_seconds")
        if value is not None:
            if not _is_number(value):
                raise reader.error(value_node, f"{label}: lease_seconds must be a number of seconds, got {value!r}")
            value = float(value)
            _run_validators(reader, value_node, f"{label}: lease_seconds", "lease_seconds", value)
        spec.fields["lease_seconds"] = value
    return spec, ignored


def _queue(reader: _Reader, node: yaml.Node, out: ConfigFile) -> None:
    engine = _current_engine_config()
    for key, (key_node, value_node) in reader.mapping(node, "queue").items():
        if key in QUEUE_SETTINGS:
            name, env, attr, smallest = QUEUE_SETTINGS[key]
            value = reader.scalar(value_node, f"queue.{key}")
            if not _is_int(value) or value < smallest:
                raise reader.error(value_node, f"queue.{key} must be an integer >= {smallest}, got {value!r}")
            current = str(getattr(engine, attr)) if engine is not None else None
            out.settings.append(SettingLine(f'FAIRQUEUE["{name}"]', str(value), env, current, reader.line(value_node)))
        else:
            why = QUEUE_IGNORED.get(key, "not a key FairQueue knows")
            out.ignored.append(f"line {reader.line(key_node)}: queue.{key} = {_shown(value_node)} ({why})")


def _redis(reader: _Reader, node: yaml.Node, out: ConfigFile) -> None:
    items = reader.mapping(node, "redis")
    values: dict[str, Any] = dict(REDIS_DEFAULTS)
    lines: dict[str, int] = {}
    for key, (key_node, value_node) in items.items():
        if key not in REDIS_KEYS:
            # its value is not shown: an unknown redis key may well be a misspelt password
            out.ignored.append(f"line {reader.line(key_node)}: redis.{key} (not a key FairQueue uses)")
            continue
        value = reader.scalar(value_node, f"redis.{key}")
        lines[key] = reader.line(value_node)
        if key in ("port", "db"):
            top = 65535 if key == "port" else 1_000_000
            if not _is_int(value) or not (1 if key == "port" else 0) <= value <= top:
                raise reader.error(value_node, f"redis.{key} must be an integer, got {value!r}")
        elif key == "ssl":
            if not isinstance(value, bool):
                raise reader.error(value_node, f"redis.ssl must be true or false, got {value!r}")
        elif key == "host":
            if not isinstance(value, str) or not value or any(c in value for c in "/@?# "):
                raise reader.error(value_node, f"redis.host must be a host name or address, got {value!r}")
        elif key == "password" and value is not None and not isinstance(value, str):
            value = str(value)  # `password: 123456` is a password, never echoed
        elif value is not None and not isinstance(value, str):
            raise reader.error(value_node, f"redis.{key} must be a string, got {value!r} ({_type_name(value)})")
        values[key] = value
    host = values["host"]
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    scheme = "rediss" if values.get("ssl") else "redis"
    url = f"{scheme}://{host}:{values['port']}/{values['db']}"
    line = reader.line(node)
    out.settings.append(SettingLine("REDIS_URL", url, "REDIS_URL", _current_redis_url(), lines.get("host", line)))
    if values.get("username"):
        current = conf.fairqueue_settings().get("REDIS", {}).get("USERNAME") or urlsplit(settings.REDIS_URL).username
        out.settings.append(
            SettingLine("REDIS_USERNAME", values["username"], "REDIS_USERNAME", current or "", lines["username"])
        )
    if values.get("password"):
        out.settings.append(SettingLine("REDIS_PASSWORD", "", "REDIS_PASSWORD", None, lines["password"], secret=True))


def _shown(node: yaml.Node) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else _describe_node(node)


def _current_engine_config():
    try:
        return conf.engine_config()
    except (TypeError, ValueError):  # a broken FAIRQUEUE setting: `manage.py check` reports it
        return None


def _current_redis_url() -> str:
    parts = urlsplit(settings.REDIS_URL)
    return conf.safe_url(parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl())


def parse(text: str, source: str) -> ConfigFile:
    """The file's content, validated; ConfigFileError (naming the line) on anything wrong."""
    loader = yaml.SafeLoader(text)
    try:
        reader = _Reader(loader, source)
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f", line {mark.line + 1}" if mark else ""
            problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
            raise ConfigFileError(f"{source}{where}: not valid YAML: {problem}") from exc
        except yaml.YAMLError as exc:  # e.g. a character YAML does not allow (the reader's error)
            raise ConfigFileError(f"{source}: not valid YAML: {exc}") from exc
        if root is None:
            raise ConfigFileError(f"{source}, line 1: the file is empty (expected workers:, queue: and redis:)")
        out = ConfigFile(source)
        top = reader.mapping(root, "the file")
        for key, (key_node, _) in top.items():
            if key not in ("workers", "queue", "redis"):
                raise reader.error(key_node, f"unknown top-level key {key!r} (the file has workers, queue and redis)")
        if "workers" in top:
            seen: dict[str, int] = {}
            for index, item in enumerate(reader.sequence(top["workers"][1], "workers")):
                spec, ignored = _worker(reader, item, index, seen)
                out.workers.append(spec)
                out.ignored += ignored
        if "queue" in top and not _is_null(top["queue"][1]):
            _queue(reader, top["queue"][1], out)
        if "redis" in top and not _is_null(top["redis"][1]):
            _redis(reader, top["redis"][1], out)
        return out
    finally:
        loader.dispose()


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def read(path: str) -> ConfigFile:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ConfigFileError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise ConfigFileError(f"{path}: is a directory, not a YAML file") from exc
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigFileError(f"{path}, line {line}: not UTF-8 text, so not a YAML file") from exc
    return parse(text, path)
