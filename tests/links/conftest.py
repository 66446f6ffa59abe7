from tests.flows.conftest import flow_app, services_of  # noqa: F401 (the flow tests' fixtures)
