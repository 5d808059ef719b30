"""The webhook receiver and sender fixtures of test_webhooks.py, for the other tests here."""

from tests.notify.test_webhooks import make_sender, receiver

__all__ = ["make_sender", "receiver"]
