"""Output of the org commands (filled in by the renovation)."""


class Text:
    pass


class Json:
    pass
