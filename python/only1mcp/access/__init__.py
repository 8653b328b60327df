"""Authorization: what a principal may see and call.

:mod:`~only1mcp.access.roles` (grants and inheritance), :mod:`~only1mcp.access.policy` (time
windows, source networks, MFA), :mod:`~only1mcp.access.ratelimit` (token buckets) and the one
object the fronts and the router consult, :class:`~only1mcp.access.gate.Gate`. Without
authentication there is no gate at all: every request is allowed, at no cost.
"""
