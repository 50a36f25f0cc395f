#!/usr/bin/env python3
"""Where a sign-on's CPU goes, by part, from `perf script` output (comm, ip, sym; call graphs).

Reads `perf script -F comm,ip,sym,dso` on stdin. Each sample goes to one part:
- "RSA signature": any sample with aws-lc's RSA signing on its stack (its padding, blinding
  and check of the result; the digest of SignedInfo goes to "digests and base64");
- "page (HTML)": any sample with the auto-POST page's code on its stack (its escaping of a
  `wresult` included, wherever the escaping itself lives);
- "SQLite thread": any sample on sqlx's SQLite connection threads;
- otherwise by the innermost frame that is not generic code (the standard library, the
  allocator, memcpy and the like): its crate, or the kernel.

Prints each part's share of the samples, and the CPU a token those shares leave for
everything but the signature: (all samples / RSA samples) is the CPU a token as a multiple of
the signature as this process makes it, which is itself 1.0-1.1 x `openssl speed rsa2048` here
(bench/README.md, ninth look).
"""
import collections
import re
import sys

GENERIC = re.compile(
    r"^(core::|alloc::|std::|hashbrown::|bytes::|<bytes|<core::|<alloc::|<std::|<&T as core::|<&mut T as core::"
    r"|<u8 as core::|T$|F$|__mem|memcpy|memmove|memset|mi_|_mi_|malloc|free|cfree|realloc|_int_|__libc|__GI|_rjem|unlink"
    r"|\[unknown\]|clone3|start_thread)"
)

# Innermost non-generic frame's prefix -> part (first match wins).
PARTS = [
    (r"^\[k\]", "kernel (TCP, wake-ups, I/O)"),
    (r"^<?(tessera_xml|tessera_protocols|roxmltree|xmlparser)", "token XML (build, c14n, parse)"),
    (r"^(aws_lc_\w*sha|sha2|base64|<base64|aws_lc_\w*EVP_Digest)", "digests and base64"),
    (r"^(aws_lc_rs::rsa|aws_lc_\w*(RSA|EVP_PKEY))", "RSA signature"),
    (r"^(askama|<askama|fluent|tessera_web::shell::pages|tessera_web::ui)", "page (HTML)"),
    (r"^(percent_encoding|form_urlencoded|serde_urlencoded|<serde_urlencoded)", "form and query decoding"),
    (r"^(hyper|hyper_util|axum|tower|http::|http_body|httparse|<http|<axum|<hyper|<tower|<\(http|<T as tower"
     r"|<F as axum|epoll_wait)", "HTTP (hyper, axum)"),
    (r"^(tokio|<tokio)", "runtime (Tokio)"),
    (r"^<?(tessera_store|sqlx|flume)", "store (requests' side)"),
    (r"^(serde_json|<&mut serde_json|<serde_json|serde::)", "JSON (audit detail, summaries)"),
    (r"^(metrics|<metrics)", "metrics"),
    (r"^(tessera_web|tessera_core|tessera_auth|tessera_keys|<tessera|uuid|<uuid)", "handlers (sessions, cookies, policy)"),
]


def part_of(comm, frames):
    stack = " ".join(frames)
    if comm.startswith("sqlx-sqlite"):
        return "SQLite thread"
    if "rsa_default_sign_raw" in stack or "RSA_sign" in stack:
        return "RSA signature"
    if "tessera_web::shell::pages::" in stack:
        return "page (HTML)"
    for frame in frames:
        if GENERIC.match(frame):
            continue
        for pattern, part in PARTS:
            if re.match(pattern, frame):
                return part
        return "other"
    return "generic code alone"


def samples(lines):
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None and frames:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            comm, frames = line.split()[0], []
        else:
            fields = line.strip().split(" ", 1)
            if len(fields) < 2:
                continue
            symbol = fields[1]
            kernel = "kernel.kallsyms" in symbol
            if " (" in symbol:
                symbol = symbol[: symbol.rfind(" (")]
            symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
            frames.append(("[k]" if kernel else "") + symbol)
    if comm is not None and frames:
        yield comm, frames


def main():
    parts = collections.Counter(part_of(comm, frames) for comm, frames in samples(sys.stdin))
    total = sum(parts.values())
    if total == 0 or parts["RSA signature"] == 0:
        print("no samples with an RSA signature: was the load running?")
        return 1
    for part, count in parts.most_common():
        print(f"{100 * count / total:6.2f} %  {part}")
    ratio = total / parts["RSA signature"]
    print(f"{total} samples; all the CPU / the signature's = {ratio:.2f}")
    print(f"everything but the signature: {100 * (total - parts['RSA signature']) / total:.1f} % of the CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
