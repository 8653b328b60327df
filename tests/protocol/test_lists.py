"""The list-kind table: every derived view agrees with the protocol's names."""

from __future__ import annotations

from only1mcp.protocol.lists import BY_KIND, BY_METHOD, LIST_CHANGED_FLAGS, LIST_METHODS


def test_each_kind_names_its_method_result_key_and_notification() -> None:
    templates = BY_KIND["templates"]
    assert templates.method == "resources/templates/list"
    assert templates.result_key == "resourceTemplates"
    # Templates have no notification of their own: the resources one covers them.
    assert templates.list_changed == "notifications/resources/list_changed"
    assert BY_METHOD["tools/list"].list_changed == "notifications/tools/list_changed"


def test_derived_views_cover_the_four_lists_and_three_notifications() -> None:
    assert {
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
    } == LIST_METHODS
    assert LIST_CHANGED_FLAGS == {
        "tools": "toolsListChanged",
        "prompts": "promptsListChanged",
        "resources": "resourcesListChanged",
    }
