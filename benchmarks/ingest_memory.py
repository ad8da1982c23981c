"""Peak memory of ``postdesk ingest`` for one big message, measured with /usr/bin/time -v.

    python benchmarks/ingest_memory.py [--attachment-mb 18] [--bounce] [--keep]

Builds a message with one random (incompressible) attachment — 18 MiB of data is a ~25 MB
message once base64-encoded — and pipes it into ``postdesk ingest`` on a fresh SQLite data
dir, as an MTA would. The same is done with a tiny message first: its peak RSS is the
process's baseline (interpreter, libraries, database). Prints both peaks and
``(peak - idle) / message size``: how many copies of the message the ingest holds at once.
With ``--bounce`` the big message comes back inside a DSN (a mail server returning it whole),
which the bounce classifier parses a second time.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"


def build(attachment_bytes: int) -> bytes:
    head = (
        "From: Ana Client <ana@client.example>\r\nTo: support@example.com\r\n"
        f"Subject: Scan of the contract\r\nMessage-ID: {make_msgid(domain='client.example')}\r\n"
        "Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe scan is attached.\r\n"
        "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="contract.pdf"\r\n\r\n'
    ).encode()
    if attachment_bytes == 0:
        return head.split(b"--b1\r\nContent-Type: application/pdf")[0] + b"--b1--\r\n"
    body = base64.encodebytes(os.urandom(attachment_bytes)).replace(b"\n", b"\r\n")
    return head + body + b"\r\n--b1--\r\n"


def as_bounce(original: bytes) -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.client.example\r\nTo: support@example.com\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn-1@mx.client.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r1"\r\n\r\n'
        b"--r1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--r1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n"
        b"\r\nFinal-Recipient: rfc822; gone@client.example\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n--r1\r\nContent-Type: message/rfc822\r\n\r\n"
        + original
        + b"\r\n--r1--\r\n"
    )


def run_ingest(
    data_dir: Path, message: Path, sender: str = "ana@client.example"
) -> tuple[int, str]:
    """Peak RSS in KiB of one ``postdesk ingest < message``, and its stdout."""
    env = os.environ | {
        "POSTDESK_DATA_DIR": str(data_dir),
        "POSTDESK_SUPPORT_ADDRESSES": "support@example.com",
        "PYTHONPATH": str(ROOT),
    }
    with message.open("rb") as stdin:
        done = subprocess.run(
            [TIME, "-v", sys.executable, "-m", "postdesk", "ingest", "-f", sender],
            stdin=stdin,
            capture_output=True,
            env=env,
            check=False,
        )
    err = done.stderr.decode()
    if done.returncode != 0:
        raise SystemExit(f"ingest failed ({done.returncode}): {err[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    assert peak, err
    return int(peak.group(1)), done.stdout.decode().strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attachment-mb", type=float, default=18.0)
    parser.add_argument("--bounce", action="store_true", help="the big message inside a DSN")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and big.eml")
    args = parser.parse_args()
    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} is missing: apt-get install -y time")
    tmp = Path(tempfile.mkdtemp(prefix="postdesk-memory-"))
    data_dir = tmp / "var"
    env = os.environ | {"POSTDESK_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "postdesk", "db", "upgrade"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    tiny, big = tmp / "tiny.eml", tmp / "big.eml"
    tiny.write_bytes(build(0))
    big_message = build(int(args.attachment_mb * 1024 * 1024))
    big.write_bytes(as_bounce(big_message) if args.bounce else big_message)
    del big_message
    size = big.stat().st_size
    idle, _ = run_ingest(data_dir, tiny)
    peak, out = run_ingest(data_dir, big, "" if args.bounce else "ana@client.example")
    ratio = (peak - idle) * 1024 / size
    kind = "bounce returning a" if args.bounce else "message with a"
    print(f"{kind} {args.attachment_mb} MiB attachment: {size / 1e6:.1f} MB  ({out})")
    print(f"idle peak RSS  {idle / 1024:8.1f} MiB  (ingest of a tiny message)")
    print(f"big peak RSS   {peak / 1024:8.1f} MiB")
    print(f"(peak - idle) / size = {ratio:.2f}  (target <= 4)")
    print(f"command: {TIME} -v {sys.executable} -m postdesk ingest < {big}")
    if not args.keep:
        for path in (tiny, big):
            path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
