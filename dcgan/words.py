"""Counting words in messages: "1 file", "2 files", so no line says "1 steps"."""


def counted(count, singular, plural=None):
    """`count` and the noun that agrees with it: counted(1, "step") is "1 step",
    counted(3, "step") "3 steps", counted(2, "copy", "copies") "2 copies"."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"
