"""Rotating the master key that seals gateway secrets: MASTER_KEY_PREVIOUS
opens what the old key sealed, and each account is sealed again under the
new key, so the old key can be retired without re-entering any secret."""

import os
import secrets
import subprocess

from client import (ROOT, VAR_DIR, configure_gateway, payment_order, register, require_sandbox, sql_value,
                    start_payment)

ROTATION_VARS = ("MASTER_KEY", "MASTER_KEY_PREVIOUS", "MASTER_KEY_PREVIOUS_FILE")


def restart_pools(**keys):
    """Re-runs scripts/run on the test stack with these key variables (and
    none of the others): the pools and the worker restart with them."""
    env = {k: v for k, v in os.environ.items() if k not in ROTATION_VARS}
    env.update(keys)
    p = subprocess.run([os.path.join(ROOT, "scripts", "run"), "--detach", "--no-demo", "--no-build"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"scripts/run failed: {p.stdout[-800:]} {p.stderr[-800:]}"


def sealed_secrets(merchant_id):
    assert merchant_id.startswith("mer_") and merchant_id[4:].isalnum(), merchant_id
    return sql_value(f"SELECT sealed_secrets FROM payment_gateways WHERE merchant_id = '{merchant_id}' "
                     "AND provider = 'esewa'")


def test_master_key_rotation_reseals_and_retires_the_old_key():
    require_sandbox()
    merchant, token = register()
    configure_gateway(token, "esewa")
    with open(os.path.join(VAR_DIR, "secrets", "master.key")) as f:
        old_key = f.read().strip()
    new_key = secrets.token_hex(32)
    sealed_before = sealed_secrets(merchant["id"])
    try:
        # New key in force, old key kept to open what it sealed.
        restart_pools(MASTER_KEY=new_key, MASTER_KEY_PREVIOUS=old_key)
        start_payment(token, payment_order(token)["id"], "esewa")
        sealed_after = sealed_secrets(merchant["id"])
        assert sealed_after != sealed_before, "the account was not sealed again under the new key"

        # The old key retired: the account still opens.
        restart_pools(MASTER_KEY=new_key)
        start_payment(token, payment_order(token)["id"], "esewa")
    finally:
        # Back to the stack's own key, with the test's key as the previous
        # one, so whatever the worker sealed again meanwhile still opens.
        restart_pools(MASTER_KEY_PREVIOUS=new_key)
    start_payment(token, payment_order(token)["id"], "esewa")
