"""``bwenge billing ...``: plans, an org's usage and manual invoices from the shell.

Whoever runs these commands on the server is the platform operator: ``settle``
is the command-line twin of ``POST /payments/invoices/{id}/settle``.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

billing_cli = typer.Typer(help="Plans, usage and manual invoices.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _service():
    from bwenge.cli import load_kernel

    from .services import billing_service

    kernel = load_kernel(migrate=True)
    return kernel, billing_service(kernel)


def _announce(kernel, items) -> None:
    from bwenge.cli import run_async

    from .services import announce

    run_async(announce(kernel, items))


@billing_cli.command("plans")
def plans(as_json: AsJson = False) -> None:
    """The plans on offer, as configured."""
    from rich.table import Table

    from bwenge.cli import console

    kernel, billing = _service()
    try:
        items = billing.plans()
    finally:
        kernel.db.dispose()
    if as_json:
        console.print_json(json.dumps({"plans": items}))
        return
    table = Table("id", "name", "price", "messages/month", "storage MB", "members")
    for p in items:
        q = p["quotas"]
        table.add_row(
            p["id"],
            p["name"],
            f"{p['price']} {p['currency']}",
            *(
                str(v) if v is not None else "unlimited"
                for v in (q["messages_per_month"], q["storage_mb"], q["members"])
            ),
        )
    console.print(table)


@billing_cli.command("usage")
def usage(
    org_id: Annotated[str, typer.Argument(help="The organisation's id.")],
    as_json: AsJson = False,
) -> None:
    """An organisation's plan, period and quota use."""
    from rich.table import Table

    from bwenge.cli import console

    kernel, billing = _service()
    try:
        current, items = billing.current(org_id)
        _announce(kernel, items)
    finally:
        kernel.db.dispose()
    if as_json:
        console.print_json(json.dumps(current))
        return
    period = current["period"]
    ending = " (cancelled: ends with the period)" if current["cancel_at_period_end"] else ""
    console.print(
        f"{current['org_id']}: {current['plan_name']} plan, {current['status']}{ending}; "
        f"period {period['start'][:10]} to {period['end'][:10]}",
        highlight=False,
    )
    table = Table("quota", "used", "limit", "%")
    for name, q in current["quotas"].items():
        limit = "unlimited" if q["unlimited"] else str(q["limit"])
        table.add_row(name, str(q["used"]), limit, f"{q['percentage']}")
    console.print(table)


@billing_cli.command("invoices")
def invoices(
    status: Annotated[
        str, typer.Option(help="pending, completed, failed or canceled.")
    ] = "pending",
    as_json: AsJson = False,
) -> None:
    """Manual invoices of every organisation (default: awaiting payment)."""
    from rich.table import Table

    from bwenge.cli import console

    kernel, billing = _service()
    try:
        result = billing.transactions(None, status=status, provider="manual", limit=200)
    finally:
        kernel.db.dispose()
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table("transaction_id", "org_id", "plan", "amount", "reference", "created_at")
    for t in result["transactions"]:
        table.add_row(
            t["transaction_id"],
            t["org_id"],
            t["plan"],
            f"{t['amount']} {t['currency']}",
            t["reference"] or "",
            t["created_at"],
        )
    console.print(table)


@billing_cli.command("settle")
def settle(
    transaction_id: Annotated[str, typer.Argument(help="The invoice's transaction id.")],
    note: Annotated[str | None, typer.Option(help="e.g. the bank or MoMo transaction id.")] = None,
) -> None:
    """Mark a manual invoice paid: the organisation's plan starts now (audited)."""
    from bwenge.cli import console, fail
    from bwenge.domain import Principal, Role
    from bwenge.errors import BwengeError

    kernel, billing = _service()
    operator = Principal(
        user_id=f"cli:{getpass.getuser()}"[:36],
        org_id="-",
        role=Role.OWNER,
        method="cli",
        is_platform_admin=True,
    )
    try:
        result, items = billing.settle(operator, transaction_id, note=note)
        _announce(kernel, items)
    except BwengeError as exc:
        fail(exc.message)
        return
    finally:
        kernel.db.dispose()
    console.print(
        f"Settled {result['transaction_id']}: {result['org_id']} is on the {result['plan']} plan.",
        highlight=False,
    )
