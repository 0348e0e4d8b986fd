"""A password being typed is shown as `*`: `/register ...` and `/identify ...` lines are masked
after the command word, on the input line itself (nothing else ever shows them: the server
does not echo commands, and the history keeps none of them)."""

from __future__ import annotations

from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput

from client.commands import is_secret

MASK = "*"


def secret_start(text: str) -> int:
    """Where the secret part of a `/register` or `/identify` line starts."""
    stripped = text.lstrip()
    word = stripped.split(" ", 1)[0]
    return len(text) - len(stripped) + len(word) + 1


class SecretProcessor(Processor):
    """Masks what follows `/register ` or `/identify ` on the input line (its first
    processor: positions are the buffer's own)."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        text = ti.document.text
        if ti.lineno != 0 or not is_secret(text):
            return Transformation(ti.fragments)
        start = secret_start(text)
        out = []
        position = 0
        for style, chunk, *rest in ti.fragments:
            masked = "".join(MASK if position + i >= start else ch for i, ch in enumerate(chunk))
            position += len(chunk)
            out.append((style, masked, *rest))
        return Transformation(out)  # type: ignore[arg-type]
