"""HTML forms (Flask-WTF): shape and CSRF here, business rules in the services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
)
from wtforms.widgets import CheckboxInput, ListWidget

from ..domain.text import unstorable_reason
from ..services import accounts
from ..services.errors import Invalid

try:
    from wtforms import SelectChoice
except ImportError:  # WTForms < 3.3 takes (value, label) tuples

    def SelectChoice(value, label):  # noqa: N802 - stands in for the class
        """A (value, label) choice for WTForms versions before SelectChoice."""
        return (value, label)


# WTForms 3.3 deprecates tuple choices (a warning, an error in the tests) and 3.4
# removes them, so every choice list is built from SelectChoice.
WEEKDAY_CHOICES = [
    SelectChoice(day, name)
    for day, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
]
TURN_CHOICES = [SelectChoice(n, str(n)) for n in (2, 4, 6)]


def storable_text(form, field) -> None:
    """A WTForms validator: text no database could store (a NUL, a lone
    surrogate half) is refused beside its field, before any other rule."""
    if isinstance(field.data, str) and (reason := unstorable_reason(field.data)):
        raise StopValidation(reason[0].upper() + reason[1:])


class StorableTextMeta:
    """Form meta that puts `storable_text` first on every field it binds, so no
    form can forget it (fields whose data is not text pass untouched)."""

    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        field.validators = [storable_text, *field.validators]
        return field


class AllyForm(FlaskForm):
    """Every page form: CSRF (Flask-WTF) and only storable text."""

    class Meta(StorableTextMeta):
        pass


class AllySubForm(Form):
    """A nested form (no CSRF of its own), with the same text rule."""

    class Meta(StorableTextMeta):
        pass


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def service_rule(check):
    """A WTForms validator from a service check that raises Invalid: the rule
    stays in the service; the form asks it per field, so one submit shows
    every field's mistake beside that field."""

    def validator(form, field) -> None:
        if field.errors:  # one message per field: the form's own comes first
            return
        try:
            check(form, field.data)
        except Invalid as problem:
            raise StopValidation(problem.message) from problem

    return validator


class RegisterForm(AllyForm):
    """Sign up: every field checked by the sign-up rules of services.accounts."""

    email = StringField(
        "Email",
        validators=[
            DataRequired(),
            Length(max=254),
            service_rule(lambda form, value: accounts.normalize_email(value)),
        ],
    )
    display_name = StringField(
        "Display name",
        validators=[
            DataRequired(),
            Length(max=60),
            service_rule(lambda form, value: accounts.clean_display_name(value)),
        ],
    )
    timezone = StringField(
        "Time zone",
        validators=[
            DataRequired(),
            Length(max=64),
            service_rule(lambda form, value: accounts.clean_timezone(value)),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(min=8, max=128),
            service_rule(
                lambda form, value: accounts.check_new_password(value, form.email.data)
            ),
        ],
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )


class LoginForm(AllyForm):
    """Log in."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember = BooleanField("Keep me logged in on this device")


class ChangePasswordForm(AllyForm):
    """Change the password (ends other logins)."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=128)]
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=8, max=128)]
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("new_password", "The passwords differ.")],
    )


class DeleteAccountForm(AllyForm):
    """Delete the account for good."""

    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=128)]
    )


class WindowForm(AllySubForm):
    """One daily availability window (no CSRF of its own: it is nested)."""

    start = StringField("From", validators=[Optional(), Length(max=5)])
    end = StringField("To", validators=[Optional(), Length(max=5)])
    weekdays = MultiCheckboxField("Days", choices=WEEKDAY_CHOICES, coerce=int)


class ProfileForm(AllyForm):
    """The profile and availability."""

    display_name = StringField(
        "Display name", validators=[DataRequired(), Length(max=60)]
    )
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])
    exam = StringField("Exam", validators=[Optional(), Length(max=80)])
    exam_date = DateField("Exam date", validators=[Optional()])
    subjects = StringField(
        "Subjects (comma separated)", validators=[Optional(), Length(max=600)]
    )
    bio = TextAreaField("About you", validators=[Optional(), Length(max=1000)])
    looking_for_partner = BooleanField("I am looking for a study partner")
    auto_match = BooleanField("Pair me automatically with the best match")
    windows = FieldList(FormField(WindowForm), min_entries=6, max_entries=6)


class TopicForm(AllyForm):
    """Add or rename a topic."""

    title = StringField("Topic", validators=[DataRequired(), Length(max=120)])
    subject = StringField("Subject", validators=[Optional(), Length(max=40)])


class PartnerRequestForm(AllyForm):
    """Ask someone to be your partner."""

    to_user_id = HiddenField(validators=[InputRequired()])
    message = TextAreaField("Message", validators=[Optional(), Length(max=500)])


class TokenForm(AllyForm):
    """Create an API token."""

    name = StringField("Token name", validators=[Optional(), Length(max=60)])


class SuggestionFilterForm(AllyForm):
    """Filters on the suggestions page (GET, no CSRF)."""

    class Meta:
        csrf = False

    exam = StringField("Exam", validators=[Optional(), Length(max=80)])
    subject = StringField("Subject", validators=[Optional(), Length(max=40)])
    min_overlap = IntegerField(
        "Minimum minutes in common each day",
        validators=[Optional(), NumberRange(min=0, max=1440)],
    )


class ScheduleForm(AllyForm):
    """Propose a partnership schedule (takes effect when the partner agrees)."""

    daily_time = StringField("Daily start", validators=[DataRequired(), Length(max=5)])
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])
    session_minutes = IntegerField(
        "Session length (minutes)",
        validators=[InputRequired(), NumberRange(min=30, max=90)],
    )
    turns = SelectField("Turns", choices=TURN_CHOICES, coerce=int, default=4)
    weekdays = MultiCheckboxField("Days", choices=WEEKDAY_CHOICES, coerce=int)


class MeetingForm(AllyForm):
    """The pair's own video-call link."""

    meeting_url = StringField("Meeting link", validators=[Optional(), Length(max=500)])


REMINDER_CHOICES = [
    SelectChoice(0, "No reminder"),
    *(SelectChoice(n, f"{n} minutes before") for n in (5, 10, 15, 30, 60)),
    SelectChoice(120, "2 hours before"),
]


class NotificationSettingsForm(AllyForm):
    """When to be reminded of a session, and whether to get e-mail."""

    reminder_minutes = SelectField(
        "Remind me", choices=REMINDER_CHOICES, coerce=int, default=10
    )
    reteach_reminders = BooleanField(
        "Tell me once a day when topics are due to teach again"
    )
    email_notifications = BooleanField("Also send notifications by e-mail")
