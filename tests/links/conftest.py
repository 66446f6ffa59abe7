from tests.flows.conftest import flow_app, services_of  # noqa: F401 (the flow tests' fixtures)
from tests.web.conftest import browser, context_factory  # noqa: F401 (Playwright's chromium, a context per browser)
