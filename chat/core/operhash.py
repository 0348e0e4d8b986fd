"""Server operator passwords: stdlib scrypt hashes in one string, and their check. Pure.

Format: `scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>`, with n=2**14, r=8, p=1 (16 MiB,
about 50 ms here) and a 16-byte salt; `python -m chat.core.operhash` reads a password and
prints its hash, for `--oper NAME:HASH`. Checking one costs what hashing does, so the hub runs
`verify` through `Hub.offload` (a worker thread in the server), never on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1
MAXMEM = 64 * 1024 * 1024
_LIMITS = {"n": 2**20, "r": 32, "p": 16}  # a stored hash may not ask for more than this


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=MAXMEM)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def check_format(stored: str) -> str | None:
    """Why `stored` is not a hash of this format, or None."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return "is not scrypt$n$r$p$salt$hash (python -m chat.core.operhash makes one)"
    try:
        n, r, p = (int(x) for x in parts[1:4])
        base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return "has a bad number or base64 field"
    if not (1 < n <= _LIMITS["n"] and n & (n - 1) == 0 and 1 <= r <= _LIMITS["r"]):
        return "has scrypt parameters out of range"
    if not 1 <= p <= _LIMITS["p"] or not 16 <= len(digest) <= 128:
        return "has scrypt parameters out of range"
    return None


def verify(password: str, stored: str) -> bool:
    """Does `password` hash to `stored`? Slow on purpose; False for a malformed hash."""
    if check_format(stored) is not None:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    want = base64.b64decode(digest)
    got = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=MAXMEM * 4,
        dklen=len(want),
    )
    return hmac.compare_digest(got, want)


def parse_opers(entries: tuple[str, ...]) -> dict[str, str]:
    """`NAME:HASH` entries as {name: hash}; ValueError naming the first bad one."""
    opers: dict[str, str] = {}
    for entry in entries:
        name, sep, stored = entry.partition(":")
        if not sep or not name or not name.isascii() or not name.isalnum():
            raise ValueError(f"{entry[:40]!r} is not NAME:HASH (NAME: letters and digits)")
        problem = check_format(stored)
        if problem:
            raise ValueError(f"the hash of {name!r} {problem}")
        opers[name] = stored
    return opers


if __name__ == "__main__":  # pragma: no cover - a tool for the operator
    import getpass
    import sys

    secret = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass()
    print(hash_password(secret))
