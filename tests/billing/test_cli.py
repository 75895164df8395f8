"""`bwenge billing ...` for operators: plans, invoices, settling from the shell."""

from __future__ import annotations

import json

import pytest
from bwenge_billing.cli import billing_cli
from typer.testing import CliRunner

from .conftest import ENABLED


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "plugins": {"enabled": ENABLED}}


def test_an_operator_settles_an_invoice_from_the_shell(
    client, make_user, kernel_settings, tmp_path
):
    owner = make_user(client)
    tx = client.post(
        "/payments/subscribe",
        headers=owner.headers,
        json={"plan_name": "pro", "payment_method": "airtel_money"},
    ).json()
    env = {
        "BWENGE_ENV": "testing",
        "BWENGE_CONFIG_DIR": str(tmp_path / "cli-config"),
        "BWENGE_DATA_DIR": kernel_settings["data_dir"],
        "BWENGE_DATABASE__URL": kernel_settings["database"]["url"],
        "BWENGE_PLUGINS__ENABLED": json.dumps(ENABLED),
    }
    runner = CliRunner()
    listed = runner.invoke(billing_cli, ["invoices", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert tx["transaction_id"] in [
        t["transaction_id"] for t in json.loads(listed.output)["transactions"]
    ]
    plans = runner.invoke(billing_cli, ["plans"], env=env)
    assert plans.exit_code == 0 and "enterprise" in plans.output and "unlimited" in plans.output

    done = runner.invoke(
        billing_cli, ["settle", tx["transaction_id"], "--note", "Airtel 5521"], env=env
    )
    assert done.exit_code == 0, done.output
    assert "pro plan" in done.output
    again = runner.invoke(billing_cli, ["settle", tx["transaction_id"]], env=env)
    assert again.exit_code != 0 and "not pending" in again.output

    assert client.get("/subscriptions/current", headers=owner.headers).json()["plan"] == "pro"
    entries = client.get(
        f"/orgs/{owner.org_id}/audit", headers=owner.headers, params={"action": "payment.settle"}
    ).json()["entries"]
    assert len(entries) == 1 and entries[0]["actor_id"].startswith("cli:")
    usage = runner.invoke(billing_cli, ["usage", owner.org_id, "--json"], env=env)
    assert usage.exit_code == 0 and json.loads(usage.output)["plan"] == "pro"
    table = runner.invoke(billing_cli, ["usage", owner.org_id], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0 and "Pro plan, active" in table.output
