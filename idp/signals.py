"""Events other parts react to without the core knowing them (the protocol revokes tokens)."""

from blinker import Namespace

_signals = Namespace()

# Sent with the User as sender, inside the transaction that made the change.
user_disabled = _signals.signal("user-disabled")
sessions_ended = _signals.signal("sessions-ended")  # every session of the user ended (password reset)
# Sent with the User as sender when one of their memberships changed role, admin flag or status,
# or was removed: tokens their portals hold are stale. For the protocol to revoke refresh tokens
# if it wants to; refreshed tokens recompute company claims from SQL either way.
memberships_changed = _signals.signal("memberships-changed")
