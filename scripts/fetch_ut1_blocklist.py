"""Install UT1's adult blocklist (the domain list FineWeb's URL filter used) for safety.url_blocklists.

``make blocklists`` runs this. UT1 (Université Toulouse Capitole, https://dsi.ut-capitole.fr/blacklists/,
CC BY-SA 4.0) is 4.5 million domains and 20 thousand host/path URLs, too large to ship in the
repository. The copy FineWeb used is the tarball inside the datatrove wheel on PyPI, so this
fetches that wheel with pip (PyPI is the only network it needs, and only here, never at run time),
checks the tarball's sha256 and writes ``domains`` and ``urls`` into the output folder:

    python scripts/fetch_ut1_blocklist.py                      # pip download, then extract
    python scripts/fetch_ut1_blocklist.py --tarball FILE.tar.gz --sha256 HEX   # a copy you have

Then, in the pipeline config:

    [safety]
    url_blocklists = ["data/blocklists/ut1-adult/domains", "data/blocklists/ut1-adult/urls"]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "datatrove==0.10.1"
MEMBER = "datatrove/assets/url_filterblacklistsv0_3_0.tar.gz"
SHA256 = "b37eefe1f3103dfa46b21b3f407b8b23cec2958ea22028700e6cc44d80f55e9e"
LISTS = ("domains", "urls")

PROVENANCE = """# UT1 adult blocklist

- **What**: the `adult` category of the UT1 blacklists, `domains` ({domains:,} entries) and
  `urls` ({urls:,} host/path entries), for `safety.url_blocklists`.
- **Who**: Université Toulouse Capitole (Fabrice Prigent), https://dsi.ut-capitole.fr/blacklists/.
- **License**: CC BY-SA 4.0.
- **This copy**: {source}, sha256 {sha256}; the tarball datatrove's URLFilter ships, which
  FineWeb's URL filter used.
"""


def download_tarball(cache: Path) -> bytes:
    """The blocklist tarball out of the datatrove wheel, fetched from PyPI with pip."""
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("datatrove-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        subprocess.run([*cmd, "-d", str(cache), WHEEL], check=True)
        wheels = sorted(cache.glob("datatrove-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download {WHEEL} left no wheel in {cache}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        try:
            return wheel.read(MEMBER)
        except KeyError:
            raise SystemExit(f"{wheels[-1]}: has no {MEMBER}") from None


def install(data: bytes, out: Path, sha256: str, source: str) -> dict[str, int]:
    """Check ``data`` (a tar.gz with ``domains`` and ``urls``) and write the lists into ``out``,
    all or nothing. Returns the number of entries per list."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{source}: sha256 {digest} is not the expected {sha256}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ut1-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        counts = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for name in LISTS:
                member = next((m for m in tar.getmembers() if m.isfile() and Path(m.name).name == name), None)
                if member is None:
                    raise SystemExit(f"{source}: the tarball has no '{name}' list")
                body = tar.extractfile(member).read()  # type: ignore[union-attr]
                (tmp / name).write_bytes(body)
                counts[name] = sum(1 for line in body.splitlines() if line.strip())
        (tmp / "PROVENANCE.md").write_text(PROVENANCE.format(source=source, sha256=sha256, **counts))
        # An install already there is moved aside first, so `out` is always a whole list (the
        # old one or the new one) except between two renames.
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/blocklists/ut1-adult"))
    parser.add_argument("--cache", type=Path, default=Path("data/blocklists/.cache"))
    parser.add_argument("--tarball", type=Path, help="a copy of the tarball instead of the PyPI wheel")
    parser.add_argument("--sha256", default=SHA256, help="expected sha256 of the tarball")
    args = parser.parse_args(argv)
    if args.tarball:
        data, source = args.tarball.read_bytes(), str(args.tarball)
    else:
        data, source = download_tarball(args.cache), f"{MEMBER} in the {WHEEL} wheel from PyPI"
    counts = install(data, args.out, args.sha256, source)
    print(f"{args.out}: " + ", ".join(f"{n} {c:,} entries" for n, c in counts.items()))


if __name__ == "__main__":
    main()
