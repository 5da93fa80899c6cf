"""Who is asking, and what they may do.

Every route turns its request into a :class:`Principal` and asks
:func:`require` (or the predicates below). The rules live here, in one
place, so that a refusal is the same everywhere: :class:`NotSignedIn` (401,
or a redirect to sign in on pages) and :class:`Forbidden` (403).
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudexpo.accounts import ROLE_RANK, Role, User
from cloudexpo.messages import message

SIGN_IN = message("auth.sign_in", "Sign in to do this.")
NEEDS_ROLE = message("auth.needs_role", "This needs the {role} role; your account is a {yours}.")
STAFF_ONLY = message("auth.staff_only", "Only this exhibitor's staff or a moderator can do this.")


class PermissionDenied(Exception):
    """Base of the refusals; the message says what would be needed."""


class NotSignedIn(PermissionDenied):
    pass


class Forbidden(PermissionDenied):
    pass


@dataclass(frozen=True)
class Principal:
    """The one asking: anonymous (user_id None) or a signed-in user."""

    user_id: int | None = None
    role: Role = Role.VISITOR
    exhibitor_id: int | None = None
    display_name: str = ""
    email: str = ""

    @classmethod
    def from_user(cls, user: User | None) -> Principal:
        if user is None:
            return ANONYMOUS
        return cls(
            user_id=user.id,
            role=Role(user.role),
            exhibitor_id=user.exhibitor_id,
            display_name=user.display_name,
            email=user.email,
        )

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    def at_least(self, role: Role) -> bool:
        return self.signed_in and ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def is_moderator(self) -> bool:
        return self.at_least(Role.MODERATOR)

    @property
    def is_admin(self) -> bool:
        return self.at_least(Role.ADMIN)

    def is_staff_of(self, exhibitor_id: int | None) -> bool:
        """Exhibitor staff of exactly this exhibitor."""
        return (
            self.signed_in
            and self.role is Role.EXHIBITOR
            and exhibitor_id is not None
            and self.exhibitor_id == exhibitor_id
        )

    def can_manage_exhibitor(self, exhibitor_id: int | None) -> bool:
        """Its own staff, or a moderator."""
        return self.is_moderator or self.is_staff_of(exhibitor_id)


ANONYMOUS = Principal()


def require(principal: Principal, role: Role = Role.VISITOR) -> Principal:
    """Refuse unless the principal is signed in with at least ``role``."""
    if not principal.signed_in:
        raise NotSignedIn(SIGN_IN())
    if not principal.at_least(role):
        raise Forbidden(NEEDS_ROLE(role=role.value, yours=principal.role.value))
    return principal


def require_exhibitor_access(principal: Principal, exhibitor_id: int | None) -> Principal:
    """Refuse unless the principal is staff of this exhibitor or a moderator."""
    require(principal)
    if not principal.can_manage_exhibitor(exhibitor_id):
        raise Forbidden(STAFF_ONLY())
    return principal
