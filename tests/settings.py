"""Settings for the test suite: the project's own, with a throwaway secret
and a test database under a temporary directory.

The process that creates the directory removes it when it exits; processes it
starts (workers, schedulers) inherit FAIRQUEUE_VAR_DIR and create nothing."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use")
if not os.environ.get("FAIRQUEUE_VAR_DIR"):
    _var_dir = tempfile.mkdtemp(prefix="fq-test-var-")
    os.environ["FAIRQUEUE_VAR_DIR"] = _var_dir
    atexit.register(shutil.rmtree, _var_dir, ignore_errors=True)

from fairqueue_site.settings import *  # noqa: E402,F403

# SQLite: a file, not :memory:, so worker processes started by tests can open the test database
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (collectstatic's target; whitenoise warns when absent)
