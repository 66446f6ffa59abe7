"""Every scenario file under tests/flows/scenarios, run through /api/v1/authentication_flows."""

from __future__ import annotations

import pytest

from tests.flows.runner import ScenarioRun, load_scenarios

SCENARIOS = load_scenarios()


@pytest.mark.embedded
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_scenario(scenario, flow_app, services_of, smtp_server):
    app = flow_app(scenario.get("config"))
    run = ScenarioRun(app.test_client(), services_of(app), smtp_server)
    run.given(scenario.get("given", []))
    for i, step in enumerate(scenario["steps"]):
        try:
            run.step(step)
        except AssertionError as exc:
            raise AssertionError(f"{scenario['name']} — step {i}: {exc}") from None
