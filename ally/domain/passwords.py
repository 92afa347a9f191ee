"""Password rules: length bounds and a refusal of the most common passwords."""

from __future__ import annotations

MIN_LENGTH = 8
MAX_LENGTH = 128

# The most used passwords in public breach corpora (lower-cased); enough to stop
# the obvious ones without shipping a large list.
COMMON_PASSWORDS = frozenset(
    """
    123456 123456789 12345678 password qwerty123 qwerty1 111111 1234567890
    1234567 qwerty abc123 password1 iloveyou 000000 123123 1q2w3e4r 1qaz2wsx
    qwertyuiop 987654321 123321 666666 654321 7777777 11111111 88888888
    aa123456 a123456 password123 passw0rd p@ssw0rd p@ssword welcome welcome1
    admin admin123 letmein monkey dragon sunshine princess football baseball
    superman batman trustno1 whatever starwars master shadow michael jennifer
    charlie freedom qazwsx zaq12wsx asdfghjk asdfasdf zxcvbnm zxcvbnm1 computer
    internet mustang access hello123 hunter2 iloveyou1 lovely loveme changeme
    secret123 default 12341234 11223344 1234qwer qwer1234 abcd1234 abcdefgh
    00000000 12121212 55555555 99999999 q1w2e3r4 q1w2e3r4t5 1q2w3e4r5t
    medicine medstudent usmlestep1 studying student1 password! password12
    """.split()
)


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why the password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        return "That password is too common; choose another."
    if len(set(password)) == 1:
        return "Use more than one distinct character."
    if email and lowered == email.lower():
        return "Your password cannot be your email address."
    return None
