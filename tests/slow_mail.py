"""Messages shaped to be slow to read: long runs, long lines, deep nesting, many parts.

Each shape is small enough for anyone to send (the largest is 5 MB) and comes from an authenticated
manager in the test directory with a real request beside the payload, so every step of reading runs
over it: the thread splitter, the signature cutter, the units, names, addresses and access phrases.
`SHAPES` maps a name (what is odd about it) to a function giving the message's bytes.
"""

from __future__ import annotations

import base64

SENDER = "Maria Santos <maria.santos@harrowgatenursing.co.uk>"
AUTH = ("Authentication-Results: mx.nhsprofessionals.nhs.uk; spf=pass smtp.mailfrom=harrowgatenursing.co.uk;"
        " dkim=pass header.d=harrowgatenursing.co.uk; dmarc=pass header.from=harrowgatenursing.co.uk")
REQUEST = "Please set up Jane Doe (jane.doe@harrowgatenursing.co.uk) as an Agency User."


def message(body: str, subject: str = "Agency User for Jane Doe", content_type: str = "text/plain",
            headers: str = "", sender: str = SENDER) -> bytes:
    head = (f"{AUTH}\nFrom: {sender}\nTo: agencies@nhsprofessionals.nhs.uk\nSubject: {subject}\n"
            f"Date: Mon, 3 Mar 2025 09:14:05 +0000\nMessage-ID: <slow-{abs(hash(body)) % 10**12}@harrowgatenursing.co.uk>\n"
            f"{headers}MIME-Version: 1.0\nContent-Type: {content_type}; charset=utf-8\n\n")
    return (head + body).encode("utf-8")


def _alternative(plain: str, html: str) -> bytes:
    body = (f"--b\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
            f"--b\nContent-Type: text/html; charset=utf-8\n\n{html}\n--b--\n")
    return message(body, content_type='multipart/alternative; boundary="b"')


def _runs(chunk: str, length: int, lines: int = 1) -> str:
    line = chunk * (length // len(chunk))
    return "\n".join(f"{line}x" for _ in range(lines))


SHAPES = {
    # what the attack probe found: whitespace runs before a pattern could fail
    "one-line-of-50000-spaces": lambda: message(f"Hi,\n{REQUEST}\n{' ' * 50_000}x\nThanks\n"),
    "forward-marker-then-100kb-of-spaces": lambda: message(
        f"{REQUEST}\n---------- Forwarded message ---------\n{' ' * 100_000}\n", subject="Fwd: access"),
    "200-lines-of-5kb-spaces": lambda: message(f"{REQUEST}\n{_runs(' ', 5_000, 200)}\n"),
    "5mb-html-of-unclosed-td": lambda: _alternative(REQUEST, "<html><body><p>" + REQUEST + "</p>" + "<td" * 1_700_000 + "</body></html>"),
    "html-only-5mb-of-unclosed-td": lambda: message("<html><body>" + "<td" * 1_700_000, content_type="text/html"),
    "tabs-in-the-request-sentence": lambda: message(f"Please set up Jane Doe{chr(9) * 50_000}(jane.doe@harrowgatenursing.co.uk) as AU\n"),
    "spaces-after-a-name-in-a-list": lambda: message(f"Please set these up as Agency Users:\n- Jane Doe{' ' * 50_000}x\n- Tom Lee tom.lee@harrowgatenursing.co.uk\n"),
    "label-then-spaces": lambda: message(f"{REQUEST}\nName{' ' * 50_000}x\nEmail: jane.doe@harrowgatenursing.co.uk\n"),
    "header-block-of-spaces": lambda: message(f"{REQUEST}\n\nFrom:{' ' * 30_000}\nSent:{' ' * 30_000}\nTo:{' ' * 30_000}\n"),
    "wrote-line-of-spaces": lambda: message(f"{REQUEST}\n\nOn {' ' * 100_000} wrote\n> old\n", subject="RE: access"),
    "quote-marks-200kb": lambda: message(f"{REQUEST}\n{'>' * 200_000}\n", subject="RE: access"),
    "nested-quotes-1000-deep": lambda: message(REQUEST + "\n" + "\n".join(">" * d + " On Monday, X wrote:" for d in range(1, 1000))),
    "1000-forward-markers": lambda: message(REQUEST + "\n" + "\n---------- Forwarded message ---------\nFrom: A <a@b.co>\nSubject: x\n" * 1000,
                                            subject="Fwd: x"),
    "dashes-underscores-and-stars": lambda: message(f"{REQUEST}\n{'-' * 60_000}\n{'_' * 60_000}\n{'*' * 60_000}\n"),
    "commas-and-colons": lambda: message(f"{REQUEST}\n{',' * 60_000}x@y.co\n{':' * 60_000}\n{'Name:' * 20_000}\n"),
    "20000-addresses-on-one-line": lambda: message(f"{REQUEST}\n" + " ".join(f"a{n}.b@harrowgatenursing.co.uk" for n in range(20_000))),
    "20000-addresses-a-line-each": lambda: message(f"{REQUEST}\n" + "\n".join(f"- Ann Lee{n} a{n}@harrowgatenursing.co.uk" for n in range(20_000))),
    "a-200kb-word-before-an-at": lambda: message(f"{REQUEST}\n{'a' * 200_000}@{'b' * 1000}\n"),
    "50000-capitalised-words": lambda: message(f"{REQUEST} " + " ".join(["Jane"] * 50_000) + "\n"),
    "abbreviations-in-a-row": lambda: message(REQUEST + " " + "x. A " * 40_000 + "\n"),
    "subject-of-spaces-and-prefixes": lambda: message(REQUEST, subject="RE: " * 5_000 + " " * 50_000 + "x"),
    "display-name-of-50000-parentheses": lambda: message(REQUEST, sender="(" * 50_000 + " <maria.santos@harrowgatenursing.co.uk>"),
    "display-name-of-quotes-and-commas": lambda: message(REQUEST, sender='"' + '",' * 30_000 + " <maria.santos@harrowgatenursing.co.uk>"),
    "authentication-results-of-200kb-words": lambda: message(
        REQUEST, headers="Authentication-Results: mx.nhsprofessionals.nhs.uk; dmarc=pass " + "x " * 100_000 + "\n"),
    "authentication-results-of-nested-comments": lambda: message(
        REQUEST, headers="Authentication-Results: mx.nhsprofessionals.nhs.uk; " + "(" * 50_000 + ")" * 50_000 + "\n"),
    "3000-attached-messages": lambda: message(
        "".join(f"--b\nContent-Type: message/rfc822\n\nFrom: a{n}@x.co\nSubject: x\n\n{REQUEST}\n" for n in range(3000)) + "--b--\n",
        content_type='multipart/mixed; boundary="b"'),
    "3000-text-parts": lambda: message(
        "".join(f"--b\nContent-Type: text/plain\n\n{REQUEST}\n" for _ in range(3000)) + "--b--\n", content_type='multipart/mixed; boundary="b"'),
    "4mb-base64-text": lambda: message(base64.encodebytes((REQUEST + " " + "word " * 800_000).encode()).decode(),
                                       headers="Content-Transfer-Encoding: base64\n"),
}
