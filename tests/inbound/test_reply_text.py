"""extract_new_text: hand-written cases per client and language, the input guard, the corpus."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from postdesk.inbound.reply_text import extract_new_text

REPLY = "Thanks, the invoice is fine now.\nCould you also send the receipt?"
QUOTE = "> Hello,\n> here is your invoice.\n> Regards, Support"


def _reply_above(header: str, quote: str = QUOTE) -> str:
    return f"{REPLY}\n\n{header}\n{quote}\n"


@pytest.mark.parametrize(
    "header",
    [
        "On Tue, 3 Jun 2025 at 10:12, Sam <s@ex.com> wrote:",
        "On Jun 3, 2025, at 10:12 AM, Support Team <help@example.com> wrote:",
        # wrapped over two lines, as Gmail does for long names
        "On Tue, Jun 3, 2025 at 10:12 AM Support Team of Example Corp <\nhelp@example.com> wrote:",
        "Am 03.06.2025 um 10:12 schrieb Sam <s@ex.com>:",
        "Am Di., 3. Juni 2025 um 10:12 Uhr schrieb Sam <s@ex.com>:",
        "Le mar. 3 juin 2025 à 10:12, Sam <s@ex.com> a écrit :",
        "El mar, 3 jun 2025 a las 10:12, Sam (<s@ex.com>) escribió:",
        "Op di 3 jun. 2025 om 10:12 schreef Sam <s@ex.com>:",
        "Il giorno mar 3 giu 2025 alle ore 10:12 Sam <s@ex.com> ha scritto:",
        "W dniu 03.06.2025 o 10:12, Sam <s@ex.com> pisze:",
        "Den 3 juni 2025 kl. 10:12 skrev Sam <s@ex.com>:",
        "2025-06-03 10:12 GMT+02:00 Sam <s@ex.com>:",
        "---- On Tue, 03 Jun 2025 10:12:00 +0200 s@ex.com wrote ----",
    ],
)
def test_wrote_headers_cut_the_quote(header: str) -> None:
    assert extract_new_text(_reply_above(header)) == REPLY


def test_unquoted_history_below_a_header_is_cut() -> None:
    body = f"{REPLY}\n\nOn Mon, 2 Jun 2025, Sam <s@ex.com> wrote:\n\nHello,\nyour invoice.\n"
    assert extract_new_text(body) == REPLY


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "----- Ursprüngliche Nachricht -----",
        "-------- Message d'origine --------",
        "-----Mensaje original-----",
        "-----Oorspronkelijk bericht-----",
        "---------- Forwarded message ---------",
    ],
)
def test_outlook_separators(separator: str) -> None:
    body = f"{REPLY}\n\n{separator}\nFrom: Support\nSent: Tuesday\nSubject: Invoice\n\nHello"
    assert extract_new_text(body) == REPLY


@pytest.mark.parametrize(
    "block",
    [
        "From: Sam <s@ex.com>\nSent: Tuesday, June 3, 2025 10:12 AM\nTo: Ann\nSubject: Invoice",
        "*From:* Support\n*Sent:* 2025-06-03\n*To:* ann@example.org\n*Subject:* Invoice",
        "Von: Sam <s@ex.com>\nGesendet: Dienstag, 3. Juni 2025 10:12\nAn: Ann\nBetreff: Rechnung",
        "De : Sam <s@ex.com>\nEnvoyé : mardi 3 juin 2025 10:12\nÀ : Ann\nObjet : Facture",
        "De: Sam <s@ex.com>\nEnviado: martes, 3 de junio de 2025 10:12\nPara: Ann\nAsunto: Factura",
        "Van: Sam <s@ex.com>\nVerzonden: dinsdag 3 juni 2025 10:12\nAan: Ann\nOnderwerp: Factuur",
        "________________________________\nFrom: Sam <s@ex.com>\nSent: Tuesday\nTo: Ann",
    ],
)
def test_from_sent_header_blocks(block: str) -> None:
    assert extract_new_text(f"{REPLY}\n\n{block}\n\nHello,\nyour invoice.") == REPLY


@pytest.mark.parametrize(
    "trailer",
    [
        "Sent from my iPhone",
        "Sent from my Samsung Galaxy smartphone.",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Enviado desde mi iPhone",
        "Verzonden vanaf mijn iPhone",
        "Get Outlook for iOS",
        "-- \nAnn Example\nACME Ltd.",
    ],
)
def test_signatures_are_cut(trailer: str) -> None:
    assert extract_new_text(f"{REPLY}\n\n{trailer}\n") == REPLY


def test_signature_before_quote_is_cut_too() -> None:
    body = f"{REPLY}\n\n-- \nAnn\n\nOn Mon, 2 Jun 2025, Sam <s@ex.com> wrote:\n{QUOTE}"
    assert extract_new_text(body) == REPLY


@pytest.mark.parametrize(
    "body",
    [
        "I sent it from my desk, which is easier than from my phone.",
        "Sent from my desk, it is much easier than from my mobile phone.",
        "The report was sent from: the billing system, not from: the CRM.",
        "Something wrote:\nthis line is mine",
        "Steps:\n-- first do this\n-- then that",
    ],
)
def test_prose_that_looks_like_markers_is_kept(body: str) -> None:
    assert extract_new_text(body) == body


def test_inline_reply_keeps_the_interleaved_answers() -> None:
    body = (
        "On Mon, 2 Jun 2025, Sam <s@ex.com> wrote:\n> Which plan?\n\nThe big one.\n\n"
        "> And which month?\n\nJune.\n\n> Thanks, Support\n"
    )
    out = extract_new_text(body)
    assert "The big one." in out and "June." in out
    assert "Thanks, Support" not in out


def test_only_quoted_or_forwarded_body_is_returned_whole() -> None:
    forward = "---------- Forwarded message ---------\nFrom: Bob <b@example.com>\nDate: today\n\nHi"
    assert extract_new_text(forward) == forward
    assert extract_new_text("> only a quote\n> here") == "> only a quote\n> here"


def test_empty_and_odd_inputs_never_raise() -> None:
    assert extract_new_text("") == ""
    assert extract_new_text("   \n\n") == ""
    assert extract_new_text("", "<p>Hello <b>there</b></p>") == "Hello there"
    assert extract_new_text("x", "<<<not html") == "x"
    assert extract_new_text("\x00\ufffd text", None) == "\x00\ufffd text"


def test_long_blank_runs_are_guarded() -> None:
    # mail-parser-reply alone needed 37 s on one line of 60 K spaces (shared/PITFALLS.md)
    body = f"Hello, my order 42 is late.{' ' * 60_000}Please check.\n\n-- \nAnn"
    start = time.perf_counter()
    out = extract_new_text(body)
    assert out == "Hello, my order 42 is late. Please check."
    assert time.perf_counter() - start < 5


def test_crlf_line_endings() -> None:
    body = _reply_above("On Tue, 3 Jun 2025, Sam <s@ex.com> wrote:").replace("\n", "\r\n")
    assert extract_new_text(body) == REPLY


# ---- HTML ---------------------------------------------------------------------------------

HTML_REPLY = "<div>Thanks, the invoice is fine now.</div>"
QUOTE_TEXT = "On Mon, Support wrote: here is your invoice"
QUOTE_DIV = f"<div>{QUOTE_TEXT}</div>"


@pytest.mark.parametrize(
    "quote_html",
    [
        f'<div class="gmail_quote"><div>{QUOTE_TEXT}</div><blockquote>old</blockquote></div>',
        f'<div class="gmail_extra"><br><div class="gmail_quote">{QUOTE_TEXT}</div></div>',
        f'<div id="divRplyFwdMsg"><b>From:</b> Support<br><b>Sent:</b> Monday</div>{QUOTE_DIV}',
        f'<div id="appendonsend"></div><hr><div><b>From:</b> Support</div><div>{QUOTE_TEXT}</div>',
        f'<blockquote type="cite"><div>{QUOTE_TEXT}</div></blockquote>',
        f'<div class="moz-cite-prefix">On 02/06/2025 Sam wrote:</div><blockquote>{QUOTE_DIV}'
        "</blockquote>",
        f'<div class="yahoo_quoted"><div>{QUOTE_TEXT}</div></div>',
        # class and type removed by a sanitiser: a trailing blockquote still counts as the quote
        f"<div>On Mon, 2 Jun 2025, Sam &lt;s@ex.com&gt; wrote:</div><blockquote>{QUOTE_DIV}"
        "</blockquote>",
    ],
)
def test_html_markers_cut_the_quote(quote_html: str) -> None:
    html = f"<html><body>{HTML_REPLY}{quote_html}</body></html>"
    assert extract_new_text("", html) == "Thanks, the invoice is fine now."


def test_html_marker_wins_when_the_text_rules_miss_the_quote() -> None:
    text = "Thanks, the invoice is fine now.\n\nSupport team said: here is your invoice"
    html = f'{HTML_REPLY}<div class="gmail_quote">Support team said: here is your invoice</div>'
    assert extract_new_text(text, html) == "Thanks, the invoice is fine now."


def test_html_without_quote_keeps_everything() -> None:
    html = "<p>Line one</p><p>Line two</p>"
    assert extract_new_text("", html) == "Line one\n\nLine two"


# ---- corpus -------------------------------------------------------------------------------

# Floors a little below what benchmarks/reply_accuracy.py measured (exact %, lenient %),
# so a regression of more than about one fixture per folder fails.
FLOORS = {
    "talon": (78, 86),
    "email_reply_parser": (77, 87),
    "crisp-email-reply-parser": (82, 92),
    "willdurand-EmailReplyParser": (90, 92),
    "email_reply_trimmer": (82, 87),
}


@pytest.mark.parametrize("folder", sorted(FLOORS))
def test_corpus_accuracy_floor(folder: str) -> None:
    from benchmarks.reply_accuracy import CORPUS, score_folder

    if not (CORPUS / folder / "expectations.json").is_file():
        pytest.skip(f"corpus folder {CORPUS / folder} absent")
    score = score_folder(folder, extract_new_text, Path(CORPUS))
    exact = 100 * score.exact_ok / score.exact_total
    lenient = 100 * score.lenient_ok / score.lenient_total
    print(
        f"{folder}: exact {score.exact_ok}/{score.exact_total} ({exact:.0f}%), "
        f"lenient {score.lenient_ok}/{score.lenient_total} ({lenient:.0f}%), {score.seconds:.3f} s"
    )
    assert exact >= FLOORS[folder][0]
    assert lenient >= FLOORS[folder][1]
