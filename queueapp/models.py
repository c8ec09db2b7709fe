"""The source of truth for who serves whom: tenants and worker configurations.
Changes reach Redis after commit (sync.py); `syncqueue` reconciles everything."""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from . import schedule_rules

NAME_RULE = "1-128 letters, digits or _ . : @ + = - (no spaces)"
NAME_PATTERN = r"\A[A-Za-z0-9_.:@+=-]{1,128}\Z"  # the engine's check_name, in Python and PostgreSQL syntax alike
name_validator = RegexValidator(NAME_PATTERN, f"Use {NAME_RULE}.")


def name_constraint(field: str, table: str) -> models.CheckConstraint:
    """The same rule in the database: the ORM without full_clean (create, bulk_create, update)
    cannot store a name the queue would refuse (SQLite does not even enforce max_length)."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__regex": NAME_PATTERN}), name=f"{table}_{field}_is_a_queue_name"
    )


class Stamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Tenant(Stamped):
    """A customer, account or API key that tasks run for (the `user` of a task)."""

    key = models.CharField(
        max_length=128,
        unique=True,
        validators=[name_validator],
        help_text=f"What tasks are enqueued with, e.g. acme or user:42 ({NAME_RULE}).",
    )
    name = models.CharField("display name", max_length=200, blank=True)
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Share of service while backlogged: weight 3 is served three times as often as weight 1.",
    )
    paused = models.BooleanField(default=False, help_text="Paused: tasks stay queued and are not served.")
    max_running = models.PositiveIntegerField(
        "max running",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="At most this many of its tasks run at once, across all workers (empty: no cap).",
    )
    rate_limit = models.FloatField(
        "rate limit",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.001), MaxValueValidator(100_000)],
        help_text="Tasks started per second at most (empty: no limit).",
    )
    rate_burst = models.PositiveIntegerField(
        "burst",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="Tasks that may start at once after a quiet spell (empty: one second's worth).",
    )
    shard = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="With FAIRQUEUE['SHARDS'] > 1: keep this tenant's new tasks on this shard (0..SHARDS-1) "
        "instead of the one its key hashes to; tasks already queued drain where they are (empty: the hash).",
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weight__gte=1, weight__lte=1000), name="tenant_weight_1_to_1000"),
            models.CheckConstraint(
                condition=models.Q(rate_burst__isnull=True) | models.Q(rate_limit__isnull=False),
                name="tenant_burst_needs_rate",
            ),
            name_constraint("key", "tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})" if self.name else self.key

    @property
    def burst(self) -> int | None:
        """The token bucket's size as the engine uses it (TenantSettings): one second's worth by default."""
        if self.rate_limit is None:
            return None
        return self.rate_burst or max(1, math.ceil(self.rate_limit))


class WorkerConfig(Stamped):
    """Which tenants one worker (runworker --worker-id) serves first, and which it may steal from."""

    worker_id = models.CharField(
        max_length=128,
        unique=True,
        validators=[name_validator],
        help_text="The --worker-id of the runworker process this configures.",
    )
    assigned_users = models.ManyToManyField(
        Tenant, blank=True, related_name="assigned_workers", help_text="Served first, round-robin (weighted)."
    )
    steal_targets = models.ManyToManyField(
        Tenant, blank=True, related_name="stealing_workers", help_text="Served only when no assigned tenant has work."
    )
    steal_all = models.BooleanField(
        "steal from any tenant (*)",
        default=False,
        help_text="After its own tenants, serve any tenant with work, including unregistered and orphaned ones.",
    )
    concurrency = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(256)], help_text="Tasks run at once (threads)."
    )
    poll_interval = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.01), MaxValueValidator(10)],
        help_text="Longest pause between empty polls, in seconds.",
    )
    lease_seconds = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="Task lease; empty: the FAIRQUEUE LEASE_SECONDS setting.",
    )
    enabled = models.BooleanField(default=True, help_text="Disabled: the worker stays up but takes no tasks.")
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["worker_id"]
        verbose_name = "worker configuration"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(concurrency__gte=1, concurrency__lte=256), name="worker_concurrency_1_to_256"
            ),
            name_constraint("worker_id", "workerconfig"),
        ]

    def __str__(self) -> str:
        return self.worker_id


def check_overlap(assigned, steal) -> None:
    """A tenant cannot be both assigned to and a steal target of one worker."""
    both = sorted(str(t) for t in set(assigned) & set(steal))
    if both:
        raise ValidationError(
            "A tenant cannot be both assigned to this worker and one of its steal targets: %(tenants)s.",
            code="overlap",
            params={"tenants": ", ".join(both)},
        )


class Schedule(Stamped):
    """A recurring task: fired by `runscheduler` once per due time of its cron expression."""

    SKIP, RUN_ONCE = "skip", "run_once"
    POLICIES = [(SKIP, "Skip missed fires"), (RUN_ONCE, "Run one catch-up for missed fires")]
    PRIORITIES = [
        (1, "1 · very low"),
        (2, "2 · low"),
        (3, "3 · normal"),
        (4, "4 · high"),
        (5, "5 · very high"),
        (6, "6 · critical"),
    ]

    name = models.CharField(
        max_length=80,
        unique=True,
        validators=[name_validator],
        help_text=f"Identifies the schedule and its fires ({NAME_RULE}).",
    )
    cron = models.CharField(
        "cron expression",
        max_length=128,
        help_text="minute hour day month weekday, optionally a 6th field for seconds: "
        "'0 3 * * *' is daily at 03:00, '*/5 * * * * 0' every 5 minutes.",
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. UTC or Europe/Berlin.")
    task = models.CharField(max_length=200, help_text="Dotted path of a registered task, e.g. queueapp.demo.echo.")
    args = models.JSONField(default=list, blank=True, help_text="Positional arguments, a JSON array.")
    kwargs = models.JSONField(default=dict, blank=True, help_text="Keyword arguments, a JSON object.")
    user = models.CharField("tenant", max_length=128, default="default", validators=[name_validator])
    priority = models.PositiveSmallIntegerField(choices=PRIORITIES, default=3)
    enabled = models.BooleanField(default=True)
    missed_fire_policy = models.CharField(
        max_length=16, choices=POLICIES, default=SKIP, help_text="What to do with fires missed while no scheduler ran."
    )
    start_at = models.DateTimeField(null=True, blank=True, help_text="No fire before this time.")
    end_at = models.DateTimeField(null=True, blank=True, help_text="No fire after this time.")
    last_fired_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_fire_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_task_id = models.CharField(max_length=128, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [name_constraint("name", "schedule"), name_constraint("user", "schedule")]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = schedule_rules.field_errors(self)
        if errors:
            raise ValidationError(errors)


class AuditEvent(models.Model):
    """An operator action taken in the dashboard: who did what to what, and when."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True)  # kept when the user is deleted
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        permissions = [
            ("requeue_task", "Can requeue dead letters"),
            ("delete_task", "Can delete dead letters"),
            ("cancel_task", "Can cancel and purge queued tasks"),
            ("sync_queue", "Can sync the configuration to Redis"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.target}"
