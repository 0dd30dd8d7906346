"""Reports: the one base every meter's result derives from, its gate, the HTML renderer and report files.

- :mod:`~trustkit.reports.base`: :class:`Report` (the headline, its interval,
  the long table every report shares, JSON, HTML, summary) and the gate
  :meth:`Report.check`;
- :mod:`~trustkit.reports.html`: the one renderer (a report document to a
  self-contained page);
- :mod:`~trustkit.reports.files`: writing outputs all or nothing.

Each meter's report lives beside its meter (``trustkit.robustness.report``,
...) and derives from :class:`Report`.
"""

from .base import (
                   LONG_COLUMNS,
                   Report,
                   estimate_row,
                   finish_long,
                   jsonable,
                   layer_profile,
                   long_table,
                   version,
                   wide_table,
)
from .files import is_stream_target, write_text_atomic, write_texts_atomic

__all__ = ["LONG_COLUMNS", "Report", "estimate_row", "finish_long", "is_stream_target", "jsonable", "layer_profile", "long_table",
           "version", "wide_table", "write_text_atomic", "write_texts_atomic"]
