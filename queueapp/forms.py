"""Forms for tenants and worker configurations (admin and dashboard): every rule
is a form error, never a 500."""

from __future__ import annotations

from django import forms

from . import conf
from .models import Schedule, Tenant, WorkerConfig, check_overlap
from .scheduling import reference_errors


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["key", "name", "weight", "paused", "max_running", "rate_limit", "rate_burst", "shard", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def clean(self):
        data = super().clean()
        if data.get("rate_burst") is not None and data.get("rate_limit") is None:
            self.add_error("rate_burst", "A burst needs a rate limit: set one, or leave the burst empty.")
        shard, shards = data.get("shard"), conf.shards()
        if shard is not None and shard >= shards:
            self.add_error(
                "shard", f"There are {shards} shard(s) (FAIRQUEUE['SHARDS']): pick 0..{shards - 1}, or leave it empty."
            )
        return data


class WorkerConfigForm(forms.ModelForm):
    class Meta:
        model = WorkerConfig
        fields = [
            "worker_id",
            "enabled",
            "assigned_users",
            "steal_targets",
            "steal_all",
            "concurrency",
            "poll_interval",
            "lease_seconds",
            "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}

    def clean(self):
        data = super().clean()
        check_overlap(data.get("assigned_users") or [], data.get("steal_targets") or [])
        return data

    def _save_m2m(self):
        """Moving a tenant from steal targets to assigned (or back) passes through no overlap:
        take it out of the other set before Django sets each field in turn."""
        if self.instance.pk:
            self.instance.steal_targets.remove(*self.cleaned_data.get("assigned_users", []))
            self.instance.assigned_users.remove(*self.cleaned_data.get("steal_targets", []))
        super()._save_m2m()


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = [
            "name",
            "cron",
            "timezone",
            "task",
            "args",
            "kwargs",
            "user",
            "priority",
            "enabled",
            "missed_fire_policy",
            "start_at",
            "end_at",
        ]
        widgets = {
            "args": forms.Textarea(attrs={"rows": 2}),
            "kwargs": forms.Textarea(attrs={"rows": 2}),
            "cron": forms.TextInput(attrs={"placeholder": "30 2 * * *", "autocomplete": "off"}),
        }

    def clean(self):
        """The model's own rules run in _post_clean (Schedule.clean); here what the schedule
        refers to: a registered task and, when required, a registered tenant."""
        data = super().clean()
        probe = Schedule(task=data.get("task") or "", user=data.get("user") or "")
        for name, message in reference_errors(probe).items():
            if name not in self.errors:
                self.add_error(name, message)
        return data
