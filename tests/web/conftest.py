"""Shared fixtures of the dashboard tests (Django's test client against real Redis)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def staff(fq_settings):
    """A signed-in staff user without permissions: can look, cannot change."""
    client = Client()
    client.force_login(User.objects.create_user("op", password="pw", is_staff=True))
    return client


@pytest.fixture
def admin(fq_settings):
    """A signed-in superuser."""
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    return client
