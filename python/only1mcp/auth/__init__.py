"""Authentication: who is calling.

An ASGI middleware in front of the HTTP fronts turns a request's credentials (an API key, a
JWT bearer token, an introspected OAuth token) into a :class:`~only1mcp.auth.principal.Principal`
and puts it into the ASGI scope; every layer behind reads it from there or from the session it
was bound to. What a principal may do is :mod:`only1mcp.access`'s concern, not this package's.
"""
