"""Pinning a tenant to a shard from the Django side (SHARDS=3): the Tenant row's shard is
synced as a pin, checked by the form, ignored when out of range (a row saved without
full_clean, SHARDS lowered), and a hand edit of the stored pins shows as drift."""

from __future__ import annotations

import logging

import pytest

from queueapp import sync
from queueapp.engine import Task
from queueapp.engine.shards import shard_of_user
from queueapp.forms import TenantForm
from queueapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


def other_shard(user: str) -> int:
    return (shard_of_user(user, 3) + 1) % 3


def test_a_tenant_rows_shard_pins_its_new_tasks(sharded):
    pin = other_shard("acme")
    Tenant.objects.create(key="acme", shard=pin, weight=2)
    assert sharded.stored_pins() == {"acme": pin} and sharded.shard_of("acme") == pin
    result = sharded.push(Task("queueapp.demo.noop", user="acme"))
    assert result.id.endswith(f"@{pin}")
    tenant = Tenant.objects.get(key="acme")
    tenant.shard = None
    tenant.save()
    assert sharded.stored_pins() == {} and sharded.shard_of("acme") == shard_of_user("acme", 3)
    assert sync.drift() == []


def test_a_shard_out_of_range_is_no_pin_and_the_form_refuses_it(sharded, caplog):
    with caplog.at_level(logging.WARNING, logger="fairqueue.sync"):
        Tenant.objects.create(key="globex", shard=7)  # the ORM without full_clean
    assert sharded.stored_pins() == {} and sharded.shard_of("globex") == shard_of_user("globex", 3)
    assert "not one of the 3 shards" in caplog.text
    form = TenantForm(data={"key": "initech", "weight": 1, "shard": 5})
    assert not form.is_valid() and "0..2" in str(form.errors["shard"])
    assert TenantForm(data={"key": "initech", "weight": 1, "shard": 2}).is_valid()


def test_a_hand_edited_pin_is_drift_and_full_sync_puts_it_back(sharded):
    Tenant.objects.create(key="acme", shard=other_shard("acme"))
    sharded.redis.hset(sharded.shards[0].config.keys.pins(), "acme", (other_shard("acme") + 1) % 3)
    sharded.redis.hset(sharded.shards[0].config.keys.pins(), "stray", 1)
    lines = sync.drift()
    assert any("tenant acme: pinned to shard" in line for line in lines)
    assert any("tenant stray: pinned to shard None in the DB, 1 in Redis" in line for line in lines)
    sync.full_sync()
    assert sync.drift() == [] and sharded.stored_pins() == {"acme": other_shard("acme")}


def test_with_one_shard_a_pin_other_than_0_is_refused(fq_settings):
    form = TenantForm(data={"key": "acme", "weight": 1, "shard": 1})
    assert not form.is_valid() and "There are 1 shard(s)" in str(form.errors["shard"])
