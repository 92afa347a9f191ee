"""E-mail of notifications through SMTP, claimed row by row so none goes twice."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select, update

from ..extensions import db
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
    with smtplib.SMTP(
        config["ALLY_SMTP_HOST"], config["ALLY_SMTP_PORT"], timeout=10
    ) as smtp:
        if config["ALLY_SMTP_STARTTLS"]:
            smtp.starttls()
        if config.get("ALLY_SMTP_USER"):
            smtp.login(config["ALLY_SMTP_USER"], config["ALLY_SMTP_PASSWORD"])
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
