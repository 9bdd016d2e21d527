"""Flows `run-health` and `check-alerts`: the bad news and the good news, each told once.

`run-health` is started by the Prefect automation that prefect.yaml declares on it (a trigger on
every reach flow run that ends Failed or Crashed): a crashed process runs no hook of its own, so
the server, which sees the state change, starts this flow instead. `check-alerts` runs the
monitors (coverage drops, failing accounts, milestones, follower spikes) after the nightly crawl.
"""

from typing import Any

from prefect import flow, get_run_logger, task
from sqlmodel import Session

from flows.notify import notify_urls
from reach.alerts import check_all, deliver, run_health_alert
from reach.db import get_engine
from reach.settings import get_settings


def _flow_run_id(resource_id: str) -> str:
    """`prefect.flow-run.<uuid>` (the event's resource id) or the bare uuid -> the uuid."""
    return resource_id.rsplit(".", 1)[-1]


@flow(name="run-health", flow_run_name="run-health {flow_run_id}")
def run_health(flow_run_id: str) -> dict[str, Any]:
    """Alert once that a reach flow run ended Failed or Crashed, naming what failed and why."""
    from prefect.client.orchestration import get_client

    run_id = _flow_run_id(flow_run_id)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)  # type: ignore[arg-type]
        flow_name = client.read_flow(run.flow_id).name
    state = run.state.name if run.state else "unknown"
    reason = (run.state.message if run.state else None) or "no message from Prefect"
    platforms = run.parameters.get("platforms") if isinstance(run.parameters, dict) else None
    platform = ", ".join(platforms) if isinstance(platforms, list) else None
    with Session(get_engine(), expire_on_commit=False) as session:
        alert = run_health_alert(
            session, run_id, f"{flow_name} ({run.name})", state, platform, reason
        )
        session.commit()
        if alert is not None:
            deliver(session, [alert], notify_urls())
            session.commit()
    logger = get_run_logger()
    logger.info("run %s %s: %s", run.name, state, "alerted" if alert else "already alerted")
    return {"flow_run": run_id, "state": state, "alerted": alert is not None}


@task(name="check-alerts")
def check_alerts() -> list[str]:
    """Run the monitors; deliver each new alert; -> their messages."""
    with Session(get_engine(), expire_on_commit=False) as session:
        alerts = check_all(session, get_settings())
        session.commit()
        if alerts:
            deliver(session, alerts, notify_urls())
            session.commit()
        return [a.message for a in alerts]
