from django.contrib import admin

from . import tenants
from .forms import TenantForm, WorkerConfigForm
from .models import Tenant, WorkerConfig


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ["key", "name", "weight", "paused", "updated_at"]
    list_filter = ["paused"]
    search_fields = ["key", "name"]
    delete_confirmation_template = "admin/queueapp/tenant/delete_confirmation.html"

    def render_delete_form(self, request, context):
        obj = context.get("object")
        if obj is not None:
            context["queued_tasks"] = tenants.queued_count(obj.key)
        return super().render_delete_form(request, context)

    def delete_model(self, request, obj):
        tenants.delete_tenant(obj, request.POST.get("queued_tasks", tenants.KEEP))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            tenants.delete_tenant(obj, tenants.KEEP)


@admin.register(WorkerConfig)
class WorkerConfigAdmin(admin.ModelAdmin):
    form = WorkerConfigForm
    list_display = ["worker_id", "enabled", "concurrency", "steal_all", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["worker_id"]
    filter_horizontal = ["assigned_users", "steal_targets"]
