"""The alert channels' local receivers (HTTPS webhook/Teams/Slack, SMTP with STARTTLS) for agent tests."""

from tests.alerts.conftest import receiver, smtp_server, tls  # noqa: F401  (fixtures)
