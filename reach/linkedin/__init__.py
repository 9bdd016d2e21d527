"""LinkedIn analytics exports (.xlsx) in: pure parsing (`parse`) and storage (`store`).

We never crawl LinkedIn (its robots.txt forbids it); members export their own analytics.
"""

from reach.linkedin.parse import BadExport, CreatorExport, PostExport, parse_export

__all__ = ["BadExport", "CreatorExport", "PostExport", "parse_export"]
