"""The shop profile: which languages a shop serves, read by every command that detects a language.

A profile says which storefront languages the shop sells in. Language ID uses it three ways
(:meth:`ShopProfile.detector`):

- **prior**: on texts with little evidence (short queries, titles full of brands and English loanwords) the
  storefront languages win near ties (weight :attr:`ShopProfile.prior`);
- **relatives**: a close relative the shop does not serve is read as the served one (a shop in Indonesia
  but not Malaysia reads Malay-looking colloquial Indonesian as ``id``; ``text.langid._RELATIVES``);
- **only** (off by default): the detector answers only the storefront languages.

Product listings (``index build``, ``ingest products``: :func:`detect_listings`) are always read among the
storefront languages only (a shop lists in the languages it sells in), and ``listings = "id"`` names the
language the shop writes its own listings in: a listing read as English, the donor of brand names and
loanwords ("Star Wars Trilogy White Leather", "Silverqueen Cashew 62g"), gets that language. Leave it out
when the catalog has real English listings without a ``lang`` field.

Where it comes from (highest first): ``--languages en,zh,id`` / ``--shop FILE`` on the command line,
``$BABELCART_LANGUAGES`` / ``$BABELCART_SHOP_PROFILE``, the ``[shop]`` table of the settings TOML file
(``$BABELCART_CONFIG``)::

    [shop]
    languages = ["en", "zh", "id"]   # storefront languages
    prior = 3.0                       # weight of a storefront language on a near tie
    only = false                      # true: answer only these languages
    listings = "id"                   # optional: the language of the shop's own listings

``--shop demo`` names the profile bundled for the demo data (``datasets/demo/shop.toml``).

>>> p = ShopProfile(languages=("en", "zh", "id"))
>>> p.detector().detect("kaos kaki").lang  # doctest: +SKIP
'id'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Environment variables: a comma-separated language list, and a profile TOML file (or ``demo``).
LANGUAGES_ENV = "BABELCART_LANGUAGES"
PROFILE_ENV = "BABELCART_SHOP_PROFILE"
#: Name of the profile bundled with the demo data.
DEMO = "demo"
#: Default weight of a storefront language on a near tie (chosen on the dev half of
#: ``benchmarks/langid_titles.py``; the library's prior without a profile is English x2).
DEFAULT_PRIOR = 5.0


@dataclass(frozen=True)
class ShopProfile:
    """A shop's storefront languages and how strongly language ID leans to them."""

    languages: tuple[str, ...]
    prior: float = DEFAULT_PRIOR
    only: bool = False
    listings: str | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        from babelcart.text.langid import normalize_code

        codes = tuple(dict.fromkeys(normalize_code(c) for c in self.languages if c and str(c).strip()))
        if not codes:
            raise ValueError("a shop profile needs at least one language (ISO 639-1 code, e.g. en,zh,id)")
        if not self.prior > 0:
            raise ValueError(f"shop prior must be > 0, got {self.prior}")
        object.__setattr__(self, "languages", codes)
        if self.listings is not None:
            listings = normalize_code(self.listings)
            if listings not in codes:
                raise ValueError(f"shop listings language {listings!r} is not one of its languages {codes}")
            object.__setattr__(self, "listings", listings)

    def detector(self) -> Any:
        """A :class:`~babelcart.text.langid.LanguageDetector` for this shop."""
        from babelcart.text.langid import LanguageDetector

        return LanguageDetector(languages=self.languages if self.only else None,
                                served=self.languages, prior={lg: self.prior for lg in self.languages})

    def listing_detector(self) -> Any:
        """The detector for this shop's product listings: its storefront languages only."""
        from babelcart.text.langid import LanguageDetector

        return LanguageDetector(languages=self.languages, served=self.languages,
                                prior={lg: self.prior for lg in self.languages})

    def as_dict(self) -> dict[str, Any]:
        """The TOML ``[shop]`` table's keys."""
        out: dict[str, Any] = {"languages": list(self.languages), "prior": self.prior, "only": self.only}
        if self.listings:
            out["listings"] = self.listings
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "") -> ShopProfile:
        """From a ``[shop]`` table; unknown keys are an error (they are usually typos)."""
        unknown = sorted(set(data) - {"languages", "prior", "only", "listings"})
        if unknown:
            raise ValueError(f"shop profile {source or ''}: unknown key(s) {', '.join(unknown)}".replace("  ", " "))
        langs = data.get("languages")
        if isinstance(langs, str):
            langs = parse_languages(langs)
        if not isinstance(langs, Sequence) or not langs:
            raise ValueError(f"shop profile {source}: 'languages' must be a list of ISO 639-1 codes")
        return cls(languages=tuple(str(x) for x in langs), prior=float(data.get("prior", DEFAULT_PRIOR)),
                   only=bool(data.get("only", False)), listings=data.get("listings") or None, source=source)


def parse_languages(text: str) -> tuple[str, ...]:
    """``"en, zh,id"`` -> ``("en", "zh", "id")``; a clear error when nothing is named."""
    codes = tuple(c.strip() for c in text.split(",") if c.strip())
    if not codes:
        raise ValueError("--languages needs comma-separated ISO 639-1 codes, e.g. en,zh,id")
    return codes


def read_profile(path_or_name: str | os.PathLike[str]) -> ShopProfile:
    """A profile TOML file (its ``[shop]`` table, or flat keys), or ``"demo"`` for the bundled one."""
    from babelcart.config import tomllib

    if str(path_or_name) == DEMO:
        ref = resources.files("babelcart.datasets") / "demo" / "shop.toml"
        text, source = ref.read_text(encoding="utf-8"), "demo"
    else:
        p = Path(path_or_name)
        if not p.is_file():
            raise FileNotFoundError(f"shop profile not found: {p} (a TOML file, or 'demo')")
        text, source = p.read_text(encoding="utf-8"), str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"shop profile {source} is not valid TOML: {exc}") from exc
    return ShopProfile.from_mapping(data.get("shop", data), source=source)


def resolve_profile(*, languages: str | None = None, shop: str | None = None,
                    settings_shop: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> ShopProfile | None:
    """The profile in force: ``languages`` / ``shop`` (CLI), else the environment, else ``settings_shop``
    (the settings file's ``[shop]`` table), else none. ``languages`` keeps the other keys of the profile."""
    env = os.environ if environ is None else environ
    shop = shop or env.get(PROFILE_ENV) or None
    languages = languages or env.get(LANGUAGES_ENV) or None
    base: ShopProfile | None = None
    if shop:
        base = read_profile(shop)
    elif settings_shop:
        base = ShopProfile.from_mapping(settings_shop, source="settings [shop]")
    if languages:
        codes = parse_languages(languages)
        if base is None:
            return ShopProfile(languages=codes, source="--languages")
        keep = base.listings if base.listings in codes else None
        return ShopProfile(languages=codes, prior=base.prior, only=base.only, listings=keep, source=base.source)
    return base


_active: ShopProfile | None = None
_listing_detector: Any = None


def active_profile() -> ShopProfile | None:
    """The profile last given to :func:`use_profile` (``None``: none)."""
    return _active


def use_profile(profile: ShopProfile | None) -> None:
    """Make ``profile`` the default language detector's (``None``: the library default)."""
    global _active, _listing_detector
    from babelcart.text.langid import set_default_detector

    if profile == _active:
        return  # keep the loaded models

    set_default_detector(profile.detector() if profile is not None else None)
    _active, _listing_detector = profile, None
    if profile is not None:
        logger.info("shop profile %s: languages %s", profile.source or "(given)", ",".join(profile.languages))


def detect_listings(texts: Sequence[str], profile: ShopProfile | None = None) -> list[str | None]:
    """Language of product listings (title + description) under ``profile`` (default: the one in force):
    among its storefront languages, English read as its ``listings`` language. With no profile: the default
    detector. ``None`` where nothing can be said."""
    global _listing_detector
    from babelcart.text.langid import UND, detect_batch

    profile = profile or _active
    if profile is None:
        guesses = detect_batch(list(texts))
    else:
        det = _listing_detector if profile is _active and _listing_detector is not None else None
        if det is None:
            det = profile.listing_detector()
            if profile is _active:
                _listing_detector = det
        guesses = det.detect_batch(list(texts))
    out: list[str | None] = []
    for g in guesses:
        lang = g.lang if g.lang and g.lang != UND else None
        if profile is not None and profile.listings and lang == "en":
            lang = profile.listings
        out.append(lang)
    return out
