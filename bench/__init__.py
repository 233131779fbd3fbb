"""`make bench`: the benchmark harness of the identity provider (issue 6).

It runs `idp serve` as in production (granian) pinned to one core, and a load generator pinned
to the other, measures each scenario for a bounded time on loopback, then does the same against
the peer (node oidc-provider 9, in bench/peer/) and prints the ratios. See README.md, "Benchmark".
"""
