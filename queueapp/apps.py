from django.apps import AppConfig


class QueueappConfig(AppConfig):
    name = "queueapp"
    verbose_name = "FairQueue"
    default_auto_field = "django.db.models.BigAutoField"
