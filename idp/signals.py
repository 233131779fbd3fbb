"""Events other parts react to without the core knowing them (the protocol revokes tokens)."""

from blinker import Namespace

_signals = Namespace()

# Sent with the User as sender, inside the transaction that made the change.
user_disabled = _signals.signal("user-disabled")
sessions_ended = _signals.signal("sessions-ended")  # every session of the user ended (password reset)
