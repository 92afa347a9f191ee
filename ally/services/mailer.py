"""E-mail of notifications through SMTP, claimed row by row so none goes twice."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from ..extensions import db, socketio
from ..models import Notification, User, utcnow

log = logging.getLogger(__name__)
BATCH = 100


def _message(notification: Notification, user: User) -> EmailMessage:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["ALLY_MAIL_FROM"]
    message["To"] = user.email
    message["Subject"] = f"Ally: {notification.text[:70]}"
    link = ""
    if notification.url and config.get("ALLY_BASE_URL"):
        link = f"\n\n{config['ALLY_BASE_URL'].rstrip('/')}{notification.url}"
    message.set_content(f"{notification.text}{link}\n\n— Ally")
    return message


@contextmanager
def _smtp(config: Mapping[str, Any]) -> Iterator[smtplib.SMTP]:
    """A logged-in connection to the configured SMTP server."""
    with smtplib.SMTP(
        config["ALLY_SMTP_HOST"], config["ALLY_SMTP_PORT"], timeout=10
    ) as smtp:
        if config["ALLY_SMTP_STARTTLS"]:
            smtp.starttls()
        if config.get("ALLY_SMTP_USER"):
            smtp.login(config["ALLY_SMTP_USER"], config["ALLY_SMTP_PASSWORD"])
        yield smtp


def send_later(to: str, subject: str, text: str) -> bool:
    """Send one e-mail in the background (False when e-mail is off).

    In the background so the request answers in the same time whether or not
    an e-mail goes (the password-reset page must not reveal which addresses
    have accounts), and a slow SMTP server never holds a request.
    """
    config = dict(current_app.config)
    if not config.get("ALLY_SMTP_HOST"):
        return False
    message = EmailMessage()
    message["From"] = config["ALLY_MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)

    def send() -> None:
        try:
            with _smtp(config) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException):
            log.exception("e-mail %r could not be sent", subject)

    socketio.start_background_task(send)
    return True


def _claim(notification_id: int) -> bool:
    """Move one pending e-mail to 'sending'; only one process wins."""
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id, Notification.email_state == "pending"
        )
        .values(email_state="sending")
    )
    db.session.commit()
    return result.rowcount == 1


def send_pending_emails() -> int:
    """Send every pending notification e-mail; returns how many were sent."""
    config = current_app.config
    if not config.get("ALLY_SMTP_HOST"):
        return 0
    pending = db.session.execute(
        select(Notification, User)
        .join(User, User.id == Notification.user_id)
        .where(Notification.email_state == "pending")
        .order_by(Notification.id)
        .limit(BATCH)
    ).all()
    sent = 0
    if not pending:
        return 0
    with _smtp(config) as smtp:
        for notification, user in pending:
            if not _claim(notification.id):
                continue
            try:
                smtp.send_message(_message(notification, user))
            except smtplib.SMTPException:
                log.exception("e-mail for notification %s failed", notification.id)
                state = "failed"
            else:
                state, sent = "sent", sent + 1
            db.session.execute(
                update(Notification)
                .where(Notification.id == notification.id)
                .values(email_state=state, emailed_at=utcnow())
            )
            db.session.commit()
    return sent
