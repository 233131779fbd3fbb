"""Two demo relying parties (a shop and a pricing portal) that show SSO and single logout with the provider.

Not part of the `idp` package: nothing in idp/ imports it. `python -m demo` (what `make run`
starts) serves the provider on 5000 and the portals on 5001 and 5002.
"""
