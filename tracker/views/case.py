"""Output of the case commands (filled in by the renovation)."""


class Text:
    pass


class Json:
    pass
