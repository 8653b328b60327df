from only1mcp.auth.challenge import bearer_challenge


def test_a_401_names_the_metadata_and_the_scopes() -> None:
    value = bearer_challenge("http://h/.well-known/oauth-protected-resource/mcp", ["a", "b"])
    assert value == (
        b'Bearer resource_metadata="http://h/.well-known/oauth-protected-resource/mcp", scope="a b"'
    )


def test_a_403_says_insufficient_scope_and_quotes_safely() -> None:
    value = bearer_challenge(None, ["x"], error="insufficient_scope", description='say "hi"')
    assert value == (
        b'Bearer error="insufficient_scope", error_description="say \\"hi\\"", scope="x"'
    )


def test_bare_bearer() -> None:
    assert bearer_challenge() == b"Bearer"
