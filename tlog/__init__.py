"""The public log, pure: Merkle tree (RFC 9162), signed-note checkpoints, tiles, lot proofs.

Standard library and `cryptography` only; storage and signing keys come in through the
small ports each module names, so the same code runs in Lambda, the CLI and a third
party's checker. docs/PROOFS.md specifies every byte it reads and writes.
"""
