"""Forms of an organization's client pages: linking a client by proof, assigning a client to a member."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from wtforms import SelectField

from aggregator.forms import Form
from aggregator.profiles.forms import LinkForm
from aggregator.services.org_clients import Member


class ClientLinkForm(LinkForm):
    """Link a client with its ID number and the number of one of its in-force policies (as a person links)."""


class AssignForm(Form):
    """Assign a client to one of the members who may act, or to nobody."""

    member = SelectField(_l("Assigned to"), choices=[], validate_choice=True)

    def set_members(self, members: Iterable[Member], current: int | None) -> None:
        """The options: nobody, then every member who may act; the current assignee chosen by default."""
        self.member.choices = [("", str(_l("Nobody (administrators see every client)")))] + [
            (str(m.user_id), m.label) for m in members
        ]
        if not self.is_submitted():
            self.member.data = str(current) if current is not None else ""

    def member_id(self) -> int | None:
        """The chosen member's user id (``None``: nobody)."""
        raw = self.member.data or ""
        return int(raw) if raw.isdigit() else None
