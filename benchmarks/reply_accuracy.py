"""Accuracy and timing of ``extract_new_text`` on the reply-parser corpus fixtures.

Run from the repository root::

    PYTHONPATH=. python benchmarks/reply_accuracy.py [--show-failures]

Each fixture becomes a ``Case``: the input (text, and HTML when the fixture has it) and what
the fixture's own project expected. Two scores per folder:

* exact: the output equals the expected reply after whitespace normalisation (every run of
  whitespace -> one space, ends stripped). Only cases with a full expected reply count.
* lenient: nothing the person wrote was lost and no quoted history leaked. Precisely: the
  normalised expected reply is a substring of the normalised output (or, for fixtures that
  only give patterns, every "must match" pattern matches), no "must not match" pattern
  matches, and the output keeps neither the input's last non-blank line nor any line
  starting with ">" unless the expected reply has that line too. (In these fixtures the
  quoted history, when present, runs to the end of the body, so its last line leaking means
  the quote leaked; a signature left in place passes lenient but fails exact.)

Fixtures whose expectation is about the other projects' internals only (fragment counts,
signature-classifier training data) are not scored.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

# repo_root.parent / "shared" / "corpus"; POSTDESK_CORPUS overrides it (a git worktree sits
# one level deeper than the main checkout).
CORPUS = Path(
    os.environ.get("POSTDESK_CORPUS")
    or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)
FOLDERS = (
    "talon",
    "email_reply_parser",
    "crisp-email-reply-parser",
    "willdurand-EmailReplyParser",
    "email_reply_trimmer",
)


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    html: str | None = None
    expected: str | None = None  # the full visible reply, when the fixture gives it
    must_match: tuple[str, ...] = ()  # regexes (multiline) the output must match
    must_not_match: tuple[str, ...] = ()  # regexes the output must not match
    has_quote: bool = True  # False when the fixture says the whole body is the reply


@dataclass
class Score:
    exact_total: int = 0
    exact_ok: int = 0
    lenient_total: int = 0
    lenient_ok: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def pct(self, ok: int, total: int) -> str:
        return f"{ok}/{total} ({100 * ok / total:.0f}%)" if total else "-"


def normalise(text: str) -> str:
    return " ".join(text.split())


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def is_exact(case: Case, output: str) -> bool | None:
    if case.expected is None:
        return None
    return normalise(output) == normalise(case.expected)


def is_lenient(case: Case, output: str) -> bool | None:
    if case.expected is None and not case.must_match and not case.must_not_match:
        return None
    out = normalise(output)
    if case.expected is not None and normalise(case.expected) not in out:
        return False
    if not all(re.search(p, output, re.M) for p in case.must_match):
        return False
    if any(re.search(p, output, re.M) for p in case.must_not_match):
        return False
    allowed = {line.strip() for line in (case.expected or "").splitlines()}
    last = _last_line(case.text) if case.has_quote else ""
    kept = {line.strip() for line in output.splitlines()}
    if last and last in kept and last not in allowed:
        return False
    return not any(line.startswith(">") and line not in allowed for line in kept)


# ---- loaders: one per folder, each yields Cases -------------------------------------------


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _eml_parts(path: Path) -> tuple[str, str | None]:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    text = plain.get_content() if plain is not None else ""
    return text, (html.get_content() if html is not None else None)


def _html_to_text(html: str) -> str:
    from inscriptis import get_text

    return get_text(html)


def load_talon(root: Path) -> Iterator[Case]:
    fixtures = json.loads(_read(root / "expectations.json"))["fixtures"]
    for name, spec in fixtures.items():
        path = root / name
        if "standard_replies" in name:
            text, html = _eml_parts(path)
            yield Case(name, text, html, expected=spec["expected_reply_text"])
        elif name.endswith(".html"):
            html = _read(path)
            yield Case(name, _html_to_text(html), html, expected=spec["expected_reply_text"])
        elif name.endswith(".eml"):  # quote shares a block with the reply
            text, html = _eml_parts(path)
            yield Case(name, text, html, must_match=(r"^Hi Katharine",), must_not_match=("From",))
        elif name.endswith("_body") and "expected_signature" in spec:
            # Only explicit signatures are ours to cut; talon's classifier-found ones are not,
            # so the lenient check is "the body before the signature is kept".
            body = _read(path)
            signature = spec["expected_signature"]
            before = body.strip()[: len(body.strip()) - len(signature)] if signature else body
            yield Case(
                name, body, must_match=(re.escape(before.strip().splitlines()[0]),), has_quote=False
            )


def _fragment_patterns(spec: dict[str, object]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Fragment 0 patterns must match; patterns of later quoted/hidden fragments must not."""
    must: list[str] = []
    must_not: list[str] = []
    regexes = spec.get("fragment_regex") or {}
    assert isinstance(regexes, dict)
    hidden = spec.get("hidden")
    for index, value in regexes.items():
        patterns = value if isinstance(value, list) else [value]
        if index == "0":
            must += [p.lstrip("^") if "\n" not in p else p for p in patterns]
        elif isinstance(hidden, list) and int(index) < len(hidden) and hidden[int(index)]:
            must_not += [p for p in patterns if p.startswith("^On")]
    for key in ("fragment0_contains",):
        for text in spec.get(key, []) or []:  # type: ignore[union-attr]
            must.append(re.escape(str(text)))
    for text in spec.get("fragment0_not_contains", []) or []:  # type: ignore[union-attr]
        must_not.append(re.escape(str(text)))
    return tuple(must), tuple(must_not)


def _expected_reply(spec: dict[str, object]) -> str | None:
    for key in (
        "visible_reply",
        "parseReply",
        "visible_text",
        "visible_text_trimmed",
        "first_fragment_trimmed",
    ):
        if isinstance(spec.get(key), str):
            return str(spec[key])
    hidden = spec.get("hidden")
    first = spec.get("fragment0_equals") or (spec.get("fragment_equals") or {}).get("0")  # type: ignore[union-attr]
    if isinstance(first, str) and isinstance(hidden, list) and all(hidden[1:]):
        return first
    if isinstance(first, str) and "fragment_equals" in spec:  # crisp: fragment 0 is the reply
        return first
    return None


def _reply_parser_cases(
    root: Path, fixtures: dict[str, object], to_path: Callable[[str], Path]
) -> Iterator[Case]:
    for name, spec in fixtures.items():
        path = to_path(name)
        if not path.is_file():
            continue
        if isinstance(spec, list):  # willdurand templates
            for template in spec:
                yield from _template_cases(name, _read(path), template)
            continue
        assert isinstance(spec, dict)
        if name.endswith(("pathological", "email_long_quote")):
            continue  # timing-only fixtures; timed separately
        expected = _expected_reply(spec)
        must, must_not = _fragment_patterns(spec)
        if expected is None and not must and not must_not:
            continue
        count = spec.get("fragments", spec.get("fragment_count"))
        regexes = spec.get("fragment_regex") or {}
        has_quote = count != 1 and (expected is not None or len(regexes) > 1 or bool(must_not))  # type: ignore[arg-type]
        yield Case(
            name,
            _read(path),
            expected=expected,
            must_match=must,
            must_not_match=must_not,
            has_quote=has_quote,
        )


def _template_cases(name: str, body: str, template: dict[str, object]) -> Iterator[Case]:
    for marker, key in (
        ("[DATE]", "substitutions_for_[DATE]"),
        ("[FROM]", "substitutions_for_[FROM]"),
    ):
        for i, sub in enumerate(template.get(key, []) or []):  # type: ignore[union-attr]
            expected = template.get("visible_reply")
            yield Case(
                f"{name}#{i}",
                body.replace(marker, str(sub)),
                expected=str(expected) if expected else None,
                must_not_match=(re.escape(str(sub)),),
            )


def load_email_reply_parser(root: Path) -> Iterator[Case]:
    fixtures = json.loads(_read(root / "expectations.json"))["fixtures"]
    yield from _reply_parser_cases(root, fixtures, lambda n: root / "test" / "emails" / f"{n}.txt")


def load_crisp(root: Path) -> Iterator[Case]:
    fixtures = json.loads(_read(root / "expectations.json"))["fixtures"]
    yield from _reply_parser_cases(root, fixtures, lambda n: root / n)


def load_willdurand(root: Path) -> Iterator[Case]:
    fixtures = json.loads(_read(root / "expectations.json"))["fixtures"]
    yield from _reply_parser_cases(root, fixtures, lambda n: root / n)


def load_trimmer(root: Path) -> Iterator[Case]:
    fixtures = json.loads(_read(root / "expectations.json"))["fixtures"]
    for name, spec in fixtures.items():
        if "expected_trimmed_file" not in spec:
            continue
        text = _read(root / name).strip()
        yield Case(name, text, expected=_read(root / spec["expected_trimmed_file"]).strip())


LOADERS: dict[str, Callable[[Path], Iterator[Case]]] = {
    "talon": load_talon,
    "email_reply_parser": load_email_reply_parser,
    "crisp-email-reply-parser": load_crisp,
    "willdurand-EmailReplyParser": load_willdurand,
    "email_reply_trimmer": load_trimmer,
}


def load_cases(folder: str, corpus: Path = CORPUS) -> list[Case]:
    return list(LOADERS[folder](corpus / folder))


def score_folder(
    folder: str, extract: Callable[[str, str | None], str], corpus: Path = CORPUS
) -> Score:
    score = Score()
    for case in load_cases(folder, corpus):
        start = time.perf_counter()
        output = extract(case.text, case.html)
        took = time.perf_counter() - start
        score.seconds += took
        score.slowest = max(score.slowest, took)
        exact, lenient = is_exact(case, output), is_lenient(case, output)
        if exact is not None:
            score.exact_total += 1
            score.exact_ok += exact
        if lenient is not None:
            score.lenient_total += 1
            score.lenient_ok += lenient
        if exact is False or lenient is False:
            tag = f"exact={exact} lenient={lenient}"
            score.failures.append((case.name, tag, output))
    return score


def _timing_fixtures(extract: Callable[[str, str | None], str], corpus: Path) -> list[str]:
    rows = []
    emails = corpus / "email_reply_parser" / "test" / "emails"
    samples = [("60K spaces", " " * 60_000), ("60K spaces after text", "Hi\n" + " " * 60_000)]
    samples += [
        (p.name, _read(p))
        for p in (emails / "pathological.txt", emails / "email_long_quote.txt")
        if p.is_file()
    ]
    for label, text in samples:
        start = time.perf_counter()
        extract(text, None)
        rows.append(f"  {label:<28} {len(text):>8} chars  {time.perf_counter() - start:7.3f} s")
    return rows


def _extractors() -> dict[str, Callable[[str, str | None], str]]:
    """The shipped entry point plus the two single-source variants it was chosen over."""
    from postdesk.inbound.reply_text import extract_new_text, strip_html

    def html_first(text: str, html: str | None) -> str:
        return (strip_html(html)[0] if html else "") or extract_new_text(text)

    return {
        "combined": extract_new_text,
        "text-only": lambda text, html: extract_new_text(text, None),
        "html-first": html_first,
    }


def main(argv: list[str]) -> int:
    """Usage: reply_accuracy.py [--show-failures] [--mode combined|text-only|html-first]"""
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}")
        return 1
    show = "--show-failures" in argv
    mode = argv[argv.index("--mode") + 1] if "--mode" in argv else "combined"
    extract_new_text = _extractors()[mode]
    print(f"mode: {mode}")
    print(f"{'folder':<30} {'exact':>14} {'lenient':>14} {'total s':>8} {'max ms':>7}")
    for folder in FOLDERS:
        s = score_folder(folder, extract_new_text)
        print(
            f"{folder:<30} {s.pct(s.exact_ok, s.exact_total):>14} "
            f"{s.pct(s.lenient_ok, s.lenient_total):>14} {s.seconds:8.3f} {1000 * s.slowest:7.1f}"
        )
        if show:
            for name, tag, output in s.failures:
                print(f"    FAIL {name} [{tag}]\n        -> {output[:300]!r}")
    print("timing:")
    print("\n".join(_timing_fixtures(extract_new_text, CORPUS)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
