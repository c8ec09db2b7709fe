from django.apps import AppConfig


class QueueappConfig(AppConfig):
    name = "queueapp"
    verbose_name = "FairQueue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import sync  # noqa: F401  (connects the DB -> Redis receivers)
