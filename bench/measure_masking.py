"""Leak and false-positive rates of a redact module, per shape of text (Markdown tables).

    .venv/bin/python bench/measure_masking.py                      # tracker/redact.py
    git show HEAD:tracker/redact.py > /tmp/old_redact.py
    .venv/bin/python bench/measure_masking.py /tmp/old_redact.py tracker/redact.py

Each argument is the path of a module with a ``mask(text) -> str`` function; each gets a
column. The samples are those of tests/test_redact_generated.py (tests/masking_samples.py,
same seed), only more of them:

* card shapes: the share of samples whose card survives masking (a *leak*: the digits
  of the text, after NFKC and with every non-digit dropped, still hold all of the card
  but its last four digits);
* numbers that are not cards: the share of samples that masking changes;
* security-code phrasings: the share whose value is not masked as it should be;
* the time of one ``mask`` call on a few typical texts.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import masking_samples as samples

Mask = Callable[[str], str]

TIMED = {
    "no digits": "Called again, no news. They promised a refund by Friday.",
    "a few digits": "Order 12345 called at 10:30, they said 3 days",
    "many digits, no card": "Order 12345 called on 2024-03-10 at 10:30, case 99812",
    "a card and a CVV": "card 4111 1111 1111 1111 CVV 123",
    "1 KB of notes, no card": (
        "Called ACME on 2024-03-10 about order 431-3530829-7624039, agent Sam, case 99812. "
    )
    * 12,
}


def load(path: str) -> ModuleType:
    """The module at `path`, imported under a name of its own."""
    name = f"_measured_{abs(hash(Path(path).resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def card_leak_rate(mask: Mask, shape: samples.CardShape, count: int) -> float:
    leaks = sum(
        samples.leaked(mask(text), digits) for text, digits in samples.card_samples(shape, count)
    )
    return leaks / count


def masked_rate(mask: Mask, shape: samples.NonCardShape, count: int) -> float:
    changed = sum(mask(text) != text for text, _ in samples.non_card_samples(shape, count))
    return changed / count


def rule_rate(shape: samples.NonCardShape, count: int) -> float:
    """The share of samples the brand rule (prefix, length, Luhn) itself calls a card."""
    hits = sum(
        bool(digits) and samples.card_rule(digits)
        for _, digits in samples.non_card_samples(shape, count)
    )
    return hits / count


def code_leak_rate(mask: Mask, phrasing: str, count: int) -> float:
    wrong = sum(mask(text) != expected for text, expected in samples.code_samples(phrasing, count))
    return wrong / count


def microseconds(mask: Mask, text: str) -> float:
    runs: list[float] = []
    for _ in range(5):
        number = 2000
        start = time.perf_counter()
        for _ in range(number):
            mask(text)
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def percent(rate: float) -> str:
    return "0" if rate == 0 else f"{rate:.1%}"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", default=["tracker/redact.py"])
    parser.add_argument("--cards", type=int, default=1000, help="samples per card shape")
    parser.add_argument("--others", type=int, default=4000, help="samples per non-card shape")
    parser.add_argument("--codes", type=int, default=300, help="samples per code phrasing")
    args = parser.parse_args(argv)
    modules = [(path, load(path).mask) for path in args.modules]
    names = [Path(path).name if len(modules) > 1 else path for path, _ in modules]

    rows = [
        [shape.name, *(percent(card_leak_rate(m, shape, args.cards)) for _, m in modules)]
        for shape in samples.CARD_SHAPES
    ]
    print(
        table(
            f"Card numbers left in clear ({args.cards} samples per shape)",
            ["shape", *names],
            rows,
        )
    )

    rows = []
    for other in samples.NON_CARD_SHAPES:
        rule = rule_rate(other, args.others)
        rows.append(
            [
                other.name,
                *(percent(masked_rate(m, other, args.others)) for _, m in modules),
                percent(rule),
            ]
        )
    print(
        table(
            f"Numbers that are not cards, masked ({args.others} samples per shape)",
            ["shape", *names, "brand rule says card"],
            rows,
        )
    )

    rows = [
        [
            f"`{phrasing.format('…')}`",
            *(percent(code_leak_rate(m, phrasing, args.codes)) for _, m in modules),
        ]
        for phrasing in samples.CODE_PHRASINGS
    ]
    print(
        table(
            f"Security codes not masked as they should be ({args.codes} samples per phrasing)",
            ["phrasing", *names],
            rows,
        )
    )

    rows = [
        [name, *(f"{microseconds(m, text):.1f}" for _, m in modules)]
        for name, text in TIMED.items()
    ]
    print(table("Microseconds per mask() call (median of 5 x 2000)", ["text", *names], rows))


if __name__ == "__main__":
    main()
