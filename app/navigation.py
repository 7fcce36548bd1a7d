"""The main navigation: each feature registers its entries with the roles that see them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from app.accounts.models import Role, User

_KEY = "ledgerline.navigation"


@dataclass(frozen=True)
class NavItem:
    """A navigation link.  No roles: every logged-in user sees it."""

    label: str
    endpoint: str
    roles: frozenset[Role] = frozenset()
    order: int = 100

    def visible_to(self, user: User) -> bool:
        return not self.roles or user.has_role(*self.roles)


def nav_item(label: str, endpoint: str, *roles: Role, order: int = 100) -> NavItem:
    return NavItem(label, endpoint, frozenset(roles), order)


def add_nav_items(app: Flask, *items: NavItem) -> None:
    registered: list[NavItem] = app.extensions.setdefault(_KEY, [])
    registered.extend(items)
    registered.sort(key=lambda item: (item.order, item.label))


def nav_items_for(user: User) -> list[NavItem]:
    """The entries ``user`` may see, in display order."""
    return [item for item in current_app.extensions.get(_KEY, []) if item.visible_to(user)]
