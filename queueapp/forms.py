"""Forms for tenants and worker configurations (admin and dashboard): every rule
is a form error, never a 500."""

from __future__ import annotations

from django import forms

from .models import Tenant, WorkerConfig, check_overlap


class TenantForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["key", "name", "weight", "paused", "notes"]


class WorkerConfigForm(forms.ModelForm):
    class Meta:
        model = WorkerConfig
        fields = ["worker_id", "enabled", "assigned_users", "steal_targets", "steal_all", "concurrency",
                  "poll_interval", "lease_seconds", "notes"]

    def clean(self):
        data = super().clean()
        check_overlap(data.get("assigned_users") or [], data.get("steal_targets") or [])
        return data
