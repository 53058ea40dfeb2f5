"""The broadcast's fixtures (DynamoDB Local tables as the template declares them, a fake
`@connections` client) for every handler test here that needs them."""

from tests.integration.handlers.test_broadcast_fan_out import (  # noqa: F401 - fixtures, shared
    connections_table,
    management,
    setup,
    tables,
    template_app,
)
