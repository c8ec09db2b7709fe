"""FairQueue site settings, read from the environment (12-factor).

Every variable and the FAIRQUEUE dict are documented in docs/configuration.md.
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FAIRQUEUE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# FAIRQUEUE_ENV=production: only the environment configures this process (no var/ files)
PRODUCTION = os.environ.get("FAIRQUEUE_ENV", "").lower() == "production"


# var/ fallbacks are for `manage.py` in a checkout's shells only: a web server (gunicorn, an
# ASGI server) never reads them, so a deployment that forgot SECRET_KEY fails instead of
# quietly using a key baked into its image
MANAGE_PY = Path(sys.argv[0]).name == "manage.py" if sys.argv else False


def var_file(name: str) -> str:
    """A value `make install` / `make run` left under var/ for this checkout's commands."""
    if PRODUCTION or not MANAGE_PY:
        return ""
    try:
        return (VAR_DIR / name).read_text().strip()
    except OSError:
        return ""


def running_redis_url() -> str:
    """var/redis-url: the URL and the pid of the `make run` that wrote it; stale (that make run
    was killed) when the pid is gone."""
    url, _, pid = var_file("redis-url").partition("\n")
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return ""
    except PermissionError:  # alive, another user's
        pass
    return url.strip()


SECRET_KEY = os.environ.get("SECRET_KEY", "") or var_file("secret-key")
if not SECRET_KEY:
    if PRODUCTION or (not DEBUG and os.environ.get("FAIRQUEUE_ALLOW_DEV_SECRET") != "1"):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: export SECRET_KEY (production), or run `make install` once "
            "(it writes a development key to var/secret-key), or set DEBUG=1"
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "queueapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "fairqueue_site.urls"
WSGI_APPLICATION = "fairqueue_site.wsgi.application"
ASGI_APPLICATION = "fairqueue_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'fairqueue.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}

# `make run` writes the address of the Redis it uses to var/redis-url while it runs
REDIS_URL = os.environ.get("REDIS_URL") or running_redis_url() or "redis://127.0.0.1:6379/0"

TASKS = {"default": {"BACKEND": "queueapp.backends.FairQueueBackend"}}

# Engine and connection settings; see docs/configuration.md for every key.
FAIRQUEUE = {
    "PREFIX": os.environ.get("FAIRQUEUE_PREFIX", "{fq}"),
    "LEASE_SECONDS": float(os.environ.get("FAIRQUEUE_LEASE_SECONDS", "30")),
    "AGING_SECONDS": float(os.environ.get("FAIRQUEUE_AGING_SECONDS", "60")),
    "RESULT_TTL": int(os.environ.get("FAIRQUEUE_RESULT_TTL", "86400")),
    "MAX_PAYLOAD_BYTES": int(os.environ.get("FAIRQUEUE_MAX_PAYLOAD_BYTES", "65536")),
    "MAX_RETRIES": int(os.environ.get("FAIRQUEUE_MAX_RETRIES", "3")),
    "MAX_DELIVERIES": int(os.environ.get("FAIRQUEUE_MAX_DELIVERIES", "3")),
    "RETRY": {
        "BASE": float(os.environ.get("FAIRQUEUE_RETRY_BASE", "1.0")),
        "FACTOR": float(os.environ.get("FAIRQUEUE_RETRY_FACTOR", "2.0")),
        "CAP": float(os.environ.get("FAIRQUEUE_RETRY_CAP", "3600")),
        "JITTER": float(os.environ.get("FAIRQUEUE_RETRY_JITTER", "0.5")),
    },
    "TASK_MODULES": env_list("FAIRQUEUE_TASK_MODULES", "queueapp.demo"),
    "ASYNC_CONCURRENCY": int(os.environ.get("FAIRQUEUE_ASYNC_CONCURRENCY", "100")),
    "REQUIRE_REGISTERED_TENANTS": env_bool("FAIRQUEUE_REQUIRE_REGISTERED_TENANTS", False),
    "REDIS_FUNCTIONS": env_bool("FAIRQUEUE_REDIS_FUNCTIONS", True),
    "XCOM_TTL": int(os.environ.get("FAIRQUEUE_XCOM_TTL", "86400")),
    "XCOM_MAX_BYTES": int(os.environ.get("FAIRQUEUE_XCOM_MAX_BYTES", "65536")),
    "FAIRNESS": os.environ.get("FAIRQUEUE_FAIRNESS", "count"),  # or "time" (docs/fairness.md)
    "SHARDS": int(os.environ.get("FAIRQUEUE_SHARDS", "1")),  # fair queues tenants spread over (docs/operations.md)
    # /metrics (docs/operations.md, Prometheus): bearer token, open to anyone, tenants with series
    "METRICS_TOKEN": os.environ.get("FAIRQUEUE_METRICS_TOKEN", ""),
    "METRICS_PUBLIC": env_bool("FAIRQUEUE_METRICS_PUBLIC", False),
    "METRICS_TOP_TENANTS": int(os.environ.get("FAIRQUEUE_METRICS_TOP_TENANTS", "50")),
    "REDIS": {
        "SSL_CA_CERTS": os.environ.get("REDIS_SSL_CA_CERTS") or None,
        "SSL_CERTFILE": os.environ.get("REDIS_SSL_CERTFILE") or None,
        "SSL_KEYFILE": os.environ.get("REDIS_SSL_KEYFILE") or None,
        "SSL_CERT_REQS": os.environ.get("REDIS_SSL_CERT_REQS", "required"),
        "USERNAME": os.environ.get("REDIS_USERNAME") or None,
        "PASSWORD": os.environ.get("REDIS_PASSWORD") or None,
        "SOCKET_TIMEOUT": float(os.environ.get("REDIS_SOCKET_TIMEOUT", "5")),
        "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("REDIS_CONNECT_TIMEOUT", "5")),
        "HEALTH_CHECK_INTERVAL": int(os.environ.get("REDIS_HEALTH_CHECK_INTERVAL", "25")),
        "RETRIES": int(os.environ.get("REDIS_RETRIES", "5")),
    },
}

# text, or json: one JSON object per line (python-json-logger), the task line's fields as keys
FAIRQUEUE_LOG_FORMAT = os.environ.get("FAIRQUEUE_LOG_FORMAT", "text").lower()
if FAIRQUEUE_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"FAIRQUEUE_LOG_FORMAT must be text or json, got {FAIRQUEUE_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if FAIRQUEUE_LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
if FAIRQUEUE_LOG_FORMAT == "json":  # Django's own text handlers (DEBUG's console) would print beside it
    LOGGING["loggers"] = {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}}
