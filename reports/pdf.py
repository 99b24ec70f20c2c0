"""The auditor's report.pdf, rendered from report.html with WeasyPrint.

WeasyPrint draws text with Pango and HarfBuzz (system libraries) and the Japanese with Debian's Noto CJK fonts;
scripts/bootstrap-system installs them, and the container image carries them. Without them the export stops
with one line naming the packages, never a traceback, and never a PDF whose Japanese did not render.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from typing import Any

from reports.bundle import SnapshotError
from reports.html import FONT_FAMILY

SYSTEM_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk"
_LOGGERS = ("weasyprint", "weasyprint.progress")


class ReportRenderError(SnapshotError):
    """report.pdf cannot be made on this machine; str() is one line that says what to install."""


def render_pdf(html: str) -> bytes:
    """report.pdf's bytes. Nothing is fetched: the report has no external assets, and any reference is refused."""
    weasyprint = _weasyprint()
    from weasyprint.urls import URLFetcher

    if not _font_installed(FONT_FAMILY):
        raise ReportRenderError(
            f"report.pdf: the font {FONT_FAMILY} is not installed, so its Japanese would not render: install "
            f"Debian's fonts-noto-cjk (scripts/bootstrap-system)"
        )
    with _quiet(*_LOGGERS):
        document = weasyprint.HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=())).render()
        return document.write_pdf()


def _font_installed(family: str) -> bool:
    """Whether fontconfig (which Pango draws with) knows a font of this family."""
    from weasyprint.text.ffi import ffi, fontconfig

    config = fontconfig.FcInitLoadConfigAndFonts()
    try:
        fonts = fontconfig.FcConfigGetFonts(config, fontconfig.FcSetSystem)
        if fonts == ffi.NULL:
            return False
        name = ffi.new("FcChar8 **")
        for i in range(fonts.nfont):
            n = 0
            while fontconfig.FcPatternGetString(fonts.fonts[i], b"family", n, name) == 0:  # FcResultMatch
                if ffi.string(ffi.cast("char *", name[0])).decode(errors="replace") == family:
                    return True
                n += 1
        return False
    finally:
        fontconfig.FcConfigDestroy(config)


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """WeasyPrint logs its steps and every refused reference; the export says what matters in one line."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _weasyprint() -> Any:
    # WeasyPrint prints its own help text to stdout when a library is missing (the one line below replaces it),
    # and logs the parsing of its built-in stylesheets on import.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), _quiet(*_LOGGERS):
        warnings.simplefilter("ignore", DeprecationWarning)  # its notice when libharfbuzz-subset0 is absent
        try:
            import weasyprint
        except ImportError as exc:
            raise ReportRenderError(
                f"report.pdf needs WeasyPrint, which is not installed ({exc}): pip install -c constraints.txt -e ."
            ) from None
        except OSError as exc:
            raise ReportRenderError(
                f"report.pdf needs WeasyPrint's system libraries ({_first_line(exc)}): install Debian's "
                f"{SYSTEM_PACKAGES} (scripts/bootstrap-system)"
            ) from None
    return weasyprint


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
