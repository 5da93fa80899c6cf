"""Sending e-mail: over SMTP when ``CLOUDEXPO_SMTP_URL`` is set, else into a folder.

- ``smtp://user:pass@host:587``: STARTTLS whenever the server offers it;
  credentials are only sent over TLS (or to a server on loopback).
- ``smtps://user:pass@host:465``: TLS from the first byte.
- empty (the embedded default): each mail is written as an ``.eml`` file to
  ``<data_dir>/mail/``, so nothing needs a mail server; any mail program
  opens them.

A :class:`Mail` has a plain-text and an HTML body, extra headers (such as
``List-Unsubscribe``) and attachments (an ``.ics`` invitation). smtplib
blocks, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import secrets
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from cloudexpo.settings import Settings

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """A mail could not be handed to the server or written."""


@dataclass
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


@dataclass
class Mail:
    to: str
    subject: str
    text: str
    html: str = ""
    to_name: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)


def build_message(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message: multipart/alternative (text, HTML) inside multipart/mixed with attachments."""
    from email.headerregistry import Address

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(Address(mail.to_name, addr_spec=mail.to)) if mail.to_name else mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "cloudexpo.local"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(mail.text, charset="utf-8")
    if mail.html:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    for item in mail.attachments:
        main, _, rest = item.content_type.partition("/")
        subtype, *params = [p.strip() for p in rest.split(";")]
        extra = dict(p.split("=", 1) for p in params if "=" in p)
        if main == "text":
            msg.add_attachment(item.data.decode("utf-8"), subtype=subtype, filename=item.filename, params=extra)
        else:
            msg.add_attachment(item.data, maintype=main, subtype=subtype, filename=item.filename)
    # Last: set_content and add_attachment move Content-* headers into the parts.
    for name, value in mail.headers.items():
        msg[name] = value
    return msg


class Mailer(Protocol):
    kind: str

    async def send(self, mail: Mail) -> None: ...


class FolderMailer:
    """Writes each mail as an .eml file (the embedded default)."""

    kind = "folder"

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        data = bytes(build_message(mail, self.sender))
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
        await asyncio.to_thread(self._write, name, data)

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(data)


class SmtpMailer:
    """SMTP with STARTTLS (smtp://) or implicit TLS (smtps://)."""

    kind = "smtp"

    def __init__(self, url: str, sender: str, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout

    async def send(self, mail: Mail) -> None:
        message = build_message(mail, self.sender)
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot send mail through {self.host}:{self.port}: {exc}") from exc

    def _loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            secure = self.implicit_tls
            if not secure and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                secure = True
            if self.username:
                if not secure and not self._loopback():
                    raise MailError(f"{self.host} offers no STARTTLS; refusing to send the password in clear")
                client.login(self.username, self.password or "")
            client.send_message(message)


def default_sender(settings: Settings) -> str:
    if settings.mail_from:
        return settings.mail_from
    host = urlsplit(settings.resolved_public_url).hostname or "localhost"
    if "." not in host:
        host = "localhost.localdomain"
    return f"Cloud Expo <noreply@{host}>"


def make_mailer(settings: Settings) -> Mailer:
    sender = default_sender(settings)
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, sender)
    return FolderMailer(settings.data_dir / "mail", sender)
