"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the tests that read the mails Cloud Expo sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_engagement_support import Inbox, smtp_inbox


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box, controller = smtp_inbox()
    try:
        yield box
    finally:
        controller.stop()
