from django.urls import path

from .views import dead_letters, health, overview, pipelines, schedules, tasks, users, workers

app_name = "queueapp"
urlpatterns = [
    # probes (no login) and metrics (a bearer token, staff or METRICS_PUBLIC: views/health.py)
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    # staff dashboard
    path("", overview.overview, name="overview"),
    path("audit/", overview.audit_log, name="audit"),
    path("users/", users.user_list, name="users"),
    path("users/new/", users.user_form, name="user_new"),
    path("users/<str:key>/", users.user_detail, name="user"),
    path("users/<str:key>/edit/", users.user_form, name="user_edit"),
    path("users/<str:key>/pause/", users.user_pause, {"paused": True}, name="user_pause"),
    path("users/<str:key>/resume/", users.user_pause, {"paused": False}, name="user_resume"),
    path("users/<str:key>/delete/", users.user_delete, name="user_delete"),
    path("users/<str:key>/purge/", users.user_purge, name="user_purge"),
    path("users/<str:key>/cancel/<str:task_id>/", users.task_cancel, name="task_cancel"),
    path("workers/", workers.worker_list, name="workers"),
    path("workers/new/", workers.worker_form, name="worker_new"),
    path("workers/sync/", workers.sync_now, name="sync_now"),
    path("workers/<str:worker_id>/edit/", workers.worker_form, name="worker_edit"),
    path("workers/<str:worker_id>/toggle/", workers.worker_toggle, name="worker_toggle"),
    path("workers/<str:worker_id>/delete/", workers.worker_delete, name="worker_delete"),
    path("schedules/", schedules.schedule_list, name="schedules"),
    path("schedules/new/", schedules.schedule_form, name="schedule_new"),
    path("schedules/preview/", schedules.cron_preview, name="cron_preview"),
    path("schedules/<str:name>/edit/", schedules.schedule_form, name="schedule_edit"),
    path("schedules/<str:name>/toggle/", schedules.schedule_toggle, name="schedule_toggle"),
    path("schedules/<str:name>/run/", schedules.schedule_run_now, name="schedule_run"),
    path("schedules/<str:name>/delete/", schedules.schedule_delete, name="schedule_delete"),
    path("dead-letters/", dead_letters.dead_letter_list, name="dead_letters"),
    path("dead-letters/<str:action>/", dead_letters.dead_letter_action, name="dead_letter_action"),
    path("tasks/", tasks.task_list, name="tasks"),
    path("tasks/<str:task_id>/", tasks.task_detail, name="task"),
    path("tasks/<str:task_id>/retry/", tasks.task_retry, name="task_retry"),
    path("pipelines/", pipelines.pipeline_list, name="pipelines"),
    path("pipelines/<str:run_id>/", pipelines.pipeline_detail, name="pipeline"),
    path("pipelines/<str:run_id>/cancel/", pipelines.pipeline_cancel, name="pipeline_cancel"),
]
