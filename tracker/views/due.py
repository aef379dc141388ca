"""Output of the due commands (filled in by the renovation)."""


class Text:
    pass


class Json:
    pass
