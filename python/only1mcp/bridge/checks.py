"""What the bridge checks of a 2026 caller's answer: is it a result of the question it answers."""

from __future__ import annotations


def invalid_answer(method: str, value: object) -> str:
    """Why ``value`` is not a result of ``method`` ("" when it is)."""
    if not isinstance(value, dict):
        return "an answer must be an object"
    if method == "elicitation/create":
        if value.get("action") not in ("accept", "decline", "cancel"):
            return "an elicitation answer needs action accept, decline or cancel"
        content = value.get("content")
        if content is not None and not isinstance(content, dict):
            return "an elicitation answer's content must be an object"
    elif method == "sampling/createMessage":
        if not isinstance(value.get("role"), str) or not isinstance(value.get("model"), str):
            return "a sampling answer needs role and model"
        if not isinstance(value.get("content"), dict | list):
            return "a sampling answer needs content"
    elif method == "roots/list" and not isinstance(value.get("roots"), list):
        return "a roots answer needs a roots list"
    return ""
