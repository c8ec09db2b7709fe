from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from . import tenants
from .forms import ScheduleForm, TenantForm, WorkerConfigForm
from .models import Schedule, Tenant, WorkerConfig
from .scheduling import run_now


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    form = TenantForm
    list_display = ["key", "name", "weight", "paused", "max_running", "rate_limit", "updated_at"]
    list_filter = ["paused"]
    search_fields = ["key", "name"]
    delete_confirmation_template = "admin/queueapp/tenant/delete_confirmation.html"

    def delete_view(self, request, object_id, extra_context=None):
        choice = request.POST.get("queued_tasks", tenants.KEEP)
        if request.method == "POST" and choice not in (tenants.KEEP, tenants.DEAD_LETTER):
            self.message_user(
                request, f"Unknown choice {choice!r} for the queued tasks: nothing was deleted.", messages.ERROR
            )
            return HttpResponseRedirect(request.path)
        return super().delete_view(request, object_id, extra_context)

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


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "cron", "timezone", "task", "user", "enabled", "next_fire_at", "last_fired_at"]
    list_filter = ["enabled", "missed_fire_policy"]
    search_fields = ["name", "task", "user"]
    readonly_fields = ["last_fired_at", "next_fire_at", "last_task_id"]
    actions = ["run_selected_now"]

    @admin.action(description="Run the selected schedules now")
    def run_selected_now(self, request, queryset):
        ids = [run_now(schedule) for schedule in queryset]
        self.message_user(request, f"Enqueued {len(ids)} task(s): {', '.join(ids)}", messages.SUCCESS)
