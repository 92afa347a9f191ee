"""The call between the two partners: signalling relay and ICE servers.

| module | job |
|---|---|
| `signalling` | the `call` event: checked, rate limited, relayed to the partner only |
| `ice` | the ICE servers (STUN, TURN with time-limited credentials) for a member |

The rules (payloads, the call's window, TURN credentials) are in
`domain.call`; the page's side is `static/js/call.js`; docs/call.md has the
whole picture. No media passes through the app server.
"""

from .ice import ice_config
from .signalling import relay

__all__ = ["ice_config", "relay"]
