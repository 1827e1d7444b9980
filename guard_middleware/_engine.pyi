"""The native scanning engine (Rust, ``rust/``). Offsets are ``str`` indices."""

from typing import Literal

__version__: str

class OffsetMap:
    """A normalised text's map back to the original text."""

    def __len__(self) -> int: ...
    def original_span(self, start: int, end: int) -> tuple[int, int]: ...
    def original_index(self, index: int) -> int: ...
    def normalized_index(self, orig_index: int) -> int: ...

def normalize(
    text: str, *, casefold: bool = True, fold: Literal["none", "pii", "blocklist"] = "none"
) -> tuple[str, OffsetMap | None]:
    """NFKC, optional case folding, format characters removed, and the fold ``fold`` names (see
    ``guard_middleware.text``); the map is None when no index moved."""

class JsonRefused(ValueError):
    """Why ``check_json`` refused a body: args are (reason, start, end), byte offsets; reason is one
    of encoding, syntax, constant, int_digits, duplicate, depth, surrogate."""

    args: tuple[str, int, int]

def check_json(raw: bytes, max_int_digits: int, max_depth: int) -> bool:
    """Checks a JSON body strictly; True when it holds an integer beyond 64 bits. Raises JsonRefused."""

def last_cluster_start(text: str) -> int:
    """Where the last character cluster of ``text`` starts (0 for empty text)."""

class Literals:
    """Blocklist literals (already normalised as texts will be) in one Aho-Corasick automaton."""

    def __init__(
        self, literals: list[str], *, word: bool, casefold: bool, max_holdback_chars: int
    ) -> None: ...
    def find(self, text: str, pos: int = 0) -> list[tuple[int, int, int]]:
        """Every occurrence starting at or after ``pos``: (start, end, literal index), sorted."""
    def holdback(self, text: str, pos: int = 0) -> int:
        """The smallest index >= pos from which the tail could still become a literal match."""

class PiiScanner:
    """Every built-in PII type of ``types`` (names as in ``checks.pii.PII_TYPES``)."""

    def __init__(
        self,
        types: list[str],
        *,
        max_holdback_chars: int,
        ip_exclude_special: bool = True,
        ip_exclude_versions: bool = True,
    ) -> None: ...
    def find(self, text: str, pos: int = 0) -> list[tuple[int, int, str]]:
        """Every match starting at or after ``pos``: (start, end, type), sorted, no duplicates."""
    def holdback(self, text: str, pos: int = 0) -> int:
        """The smallest index >= pos from which the tail could still become a match."""

def classify_regex(pattern: str, *, casefold: bool) -> str | None:
    """Why a blocklist regex cannot run on the native engine with exactly the ``regex`` package's
    matches (e.g. "look-around", "back-reference", "unsupported syntax (...)"); None when it can."""

class UserRegexes:
    """A blocklist's native user regexes (each one ``classify_regex`` accepts), on normalised text."""

    def __init__(self, patterns: list[str], *, casefold: bool, max_holdback_chars: int) -> None: ...
    @property
    def native_hold(self) -> list[bool]:
        """For each regex, whether ``holdback`` covers it: not for one with a lazy repetition, where
        the ``regex`` package's partial matching sometimes holds more (keep that one's there)."""
    def find(self, text: str, pos: int = 0) -> list[tuple[int, int, int]]:
        """Every non-overlapping leftmost-first match starting at or after ``pos``, as (start, end,
        regex index), regex by regex in order, each regex's matches in text order."""
    def find_normalized(self, text: str, pos: int = 0) -> list[tuple[int, int, int]]:
        """For tests: ``find`` on ``text`` taken as already normalised (no normalisation, no map)."""
    def holdback(self, text: str, pos: int = 0) -> int:
        """The smallest index >= pos from which a match of a regex ``native_hold`` marks could still
        reach the end of the text (the last cluster always held, never below the cap); ``len(text)``
        if none."""

class BodyScanner:
    """The fast path for whole JSON bodies: walks a body as ``formats.body.extract`` does, straight from
    its bytes, and runs the given engine checks on every text it would extract."""

    def __init__(
        self,
        literals: list[Literals],
        pii: list[PiiScanner],
        *,
        rules: dict[str, list[str]],
        format_opaque: list[str],
    ) -> None: ...
    def clean(self, raw: bytes, max_int_digits: int) -> bool:
        """True when no check finds anything in any text of ``raw`` (a body ``check_json`` accepted);
        False when one may (the exact path then decides). ``max_int_digits``: Python's current limit."""
    def texts(self, raw: bytes, max_int_digits: int) -> list[str] | None:
        """For tests: every text ``clean`` would scan, in order; None when the walk stops early."""

class StreamScanner:
    """The fast path for chat, completions and Anthropic streams (``kind``): settles the leading text
    events of a chunk on the open channel's ``TextWindow`` when nothing is to be decided."""

    def __init__(
        self,
        literals: list[Literals],
        pii: list[PiiScanner],
        *,
        structural: list[str],
        special: list[str],
        kind: str,
        max_event_bytes: int,
    ) -> None: ...
    def feed(
        self, data: bytes, choice: int, window: object, known: dict[str, str], max_int_digits: int
    ) -> tuple[bytes, int, bytes | None]:
        """The bytes to send for the leading events of ``data`` it settled, how many bytes of ``data``
        those events were (0: the Python path takes it all), and the JSON of the last one."""
