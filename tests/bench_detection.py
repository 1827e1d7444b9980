"""Detection quality of the local checks: PII recall with exact spans on a seeded multilingual corpus,
false positives on developer text with no PII, and blocklist look-alike evasions.

Run: ``python tests/bench_detection.py [--types T ...] [--locale L ...] [--show-misses TYPE]
[--show-fp TYPE] [--markdown]``. The corpora are in ``tests/detection_corpus.py``.

* Recall: a value counts as found only when a finding of its type has exactly the value's span;
  "inexact" is a finding of the type that overlaps it with another span, "other type" one of another
  type only.
* False positives: every finding on the no-PII corpus is true (a reviewed or planted real value),
  debatable (special-purpose or version-like IPs, reviewed pairs) or clearly wrong.
* Blocklist: the fraction of look-alike spellings of blocklisted words that are still caught.

Not a pytest module (no ``test_`` prefix): it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from guard_middleware.checks.blocklist import build_blocklist
from guard_middleware.checks.pii import PII_TYPES, PiiCheck
from tests import detection_corpus as dc

# ---------------------------------------------------------------------------------------------------
# Recall


@dataclass(frozen=True, slots=True)
class Outcome:
    case: dc.Case
    verdict: str  # "exact", "inexact", "other type", "missed"
    found: tuple[tuple[str, str], ...]  # (type, text) of the findings overlapping the value


def score(cases: Sequence[dc.Case], check: PiiCheck) -> tuple[list[Outcome], float]:
    out: list[Outcome] = []
    elapsed = 0.0
    for case in cases:
        t0 = time.perf_counter()
        matches = check.find(case.text)
        elapsed += time.perf_counter() - t0
        near = [m for m in matches if m.start < case.end and case.start < m.end]
        found = tuple((m.category, case.text[m.start : m.end]) for m in near)
        if any(m.category == case.type and (m.start, m.end) == (case.start, case.end) for m in near):
            verdict = "exact"
        elif any(m.category == case.type for m in near):
            verdict = "inexact"
        elif near:
            verdict = "other type"
        else:
            verdict = "missed"
        out.append(Outcome(case, verdict, found))
    return out, elapsed


def _pct(n: int, total: int) -> str:
    return "—" if not total else f"{100 * n / total:.0f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells))

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def recall_tables(outcomes: Sequence[Outcome], types: Sequence[str], locales: Sequence[str], md: bool) -> str:
    by_cell: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for o in outcomes:
        by_cell[o.case.type, o.case.locale][o.verdict] += 1
        by_cell[o.case.type, "all"][o.verdict] += 1
        by_cell["all", o.case.locale][o.verdict] += 1
        by_cell["all", "all"][o.verdict] += 1
    cols = [*locales, "all"]
    rows = []
    for t in [*types, "all"]:
        rows.append([t, *(_pct(by_cell[t, c]["exact"], by_cell[t, c].total()) for c in cols)])
    recall = _table(["recall (exact span)", *cols], rows, md)

    exact_rows = []
    for t in [*types, "all"]:
        sub = [o for o in outcomes if t in ("all", o.case.type)]
        n = len(sub)
        v = Counter(o.verdict for o in sub)
        ctx = [o for o in sub if o.case.context]
        bare = [o for o in sub if not o.case.context]
        exact_rows.append(
            [
                t,
                str(n),
                _pct(v["exact"], n),
                _pct(v["inexact"], n),
                _pct(v["other type"], n),
                _pct(v["missed"], n),
                _pct(sum(o.verdict == "exact" for o in ctx), len(ctx)),
                _pct(sum(o.verdict == "exact" for o in bare), len(bare)),
            ]
        )
    header = ["type", "values", "exact", "overlap, inexact", "as another type", "missed", "exact, context",
              "exact, no context"]  # fmt: skip
    return recall + "\n\n" + _table(header, exact_rows, md)


def _around(case: dc.Case) -> str:
    def kind(c: str) -> str:
        if not c:
            return "edge"
        if c.isalpha():
            return "letter" if c.isascii() else "non-ASCII letter"
        return repr(c)

    before = case.text[case.start - 1] if case.start else ""
    after = case.text[case.end] if case.end < len(case.text) else ""
    return f"{kind(before)} | {kind(after)}"


def miss_report(outcomes: Sequence[Outcome], types: Sequence[str], top: int) -> str:
    lines: list[str] = []
    for t in types:
        sub = [o for o in outcomes if o.case.type == t]
        misses = [o for o in sub if o.verdict != "exact"]
        if not misses:
            continue
        per_shape = Counter(o.case.shape for o in sub)
        shapes = Counter(o.case.shape for o in misses)
        lines.append(f"{t}: {len(misses)} of {len(sub)} not found exactly; the most common shapes missed:")
        for shape, n in shapes.most_common(top):
            example = next(o for o in misses if o.case.shape == shape)
            found = ", ".join(f"{k} {v!r}" for k, v in example.found) or "nothing"
            lines.append(
                f"  {n:4d} ({_pct(n, per_shape[shape])} of that shape)  {shape:<34} "
                f"e.g. {example.case.text!r} -> {found}"
            )
        around = Counter(_around(o.case) for o in misses).most_common(5)
        lines.append(
            "  around the missed value (before | after): " + "; ".join(f"{k} {n}" for k, n in around)
        )
    return "\n".join(lines)


def show_misses(outcomes: Sequence[Outcome], kind: str) -> str:
    lines = []
    for o in outcomes:
        if o.case.type == kind and o.verdict != "exact":
            found = ", ".join(f"{k} {v!r}" for k, v in o.found) or "nothing"
            lines.append(f"{o.case.locale:6} {o.verdict:10} {o.case.shape:<30} {o.case.text!r}  value "
                         f"{o.case.value!r} -> {found}")  # fmt: skip
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# False positives


@dataclass(frozen=True, slots=True)
class Finding:
    line: dc.Line
    type: str
    text: str
    verdict: str  # "true", "debatable: <why>", "wrong"


def _is_true(kind: str, text: str, line: str, start: int, end: int, truths: set[tuple[str, str]]) -> bool:
    if (kind, text) in dc.ALLOWLIST or (kind, text) in truths:
        return True
    # a planted value found with a slightly different span is a span problem, not a false positive
    for t, value in truths:
        if t != kind:
            continue
        i = line.find(value)
        while i >= 0:
            if i < end and start < i + len(value):
                return True
            i = line.find(value, i + 1)
    return False


def false_positives(corpus: dc.FpCorpus, check: PiiCheck) -> tuple[list[Finding], float]:
    out: list[Finding] = []
    elapsed = 0.0
    for line in corpus.lines:
        t0 = time.perf_counter()
        matches = check.find(line.text)
        elapsed += time.perf_counter() - t0
        for m in matches:
            text = line.text[m.start : m.end]
            if _is_true(m.category, text, line.text, m.start, m.end, corpus.truths):
                verdict = "true"
            elif (why := dc.debatable(m.category, text, line.text, m.start, m.end, corpus)) is not None:
                verdict = f"debatable: {why}"
            else:
                verdict = "wrong"
            out.append(Finding(line, m.category, text, verdict))
    return out, elapsed


def fp_table(findings: Sequence[Finding], lines: Sequence[dc.Line], types: Sequence[str], md: bool) -> str:
    parts = list(dict.fromkeys(line.part for line in lines))
    n_lines = Counter(line.part for line in lines)
    total_lines = len(lines)
    wrong: dict[tuple[str, str], int] = Counter()
    other: dict[tuple[str, str], int] = Counter()
    for f in findings:
        if f.verdict == "wrong":
            wrong[f.type, f.line.part] += 1
            wrong[f.type, "all"] += 1
            wrong["all", f.line.part] += 1
            wrong["all", "all"] += 1
        else:
            key = "true" if f.verdict == "true" else "debatable"
            other[f.type, key] += 1
            other["all", key] += 1

    def rate(n: int, lines_in: int) -> str:
        return f"{1000 * n / lines_in:.1f} ({n})" if n else "0"

    shown = [t for t in types if wrong[t, "all"] or other[t, "true"] or other[t, "debatable"]]
    rows = []
    for t in [*shown, "all"]:
        cells = [rate(wrong[t, p], n_lines[p]) for p in parts]
        cells += [rate(wrong[t, "all"], total_lines), rate(other[t, "debatable"], total_lines)]
        cells += [rate(wrong[t, "all"] + other[t, "debatable"], total_lines), str(other[t, "true"])]
        rows.append([t, *cells])
    header = ["clearly wrong / 1,000 lines (count)", *(f"{p} ({n_lines[p]:,})" for p in parts),
              f"all ({total_lines:,})", "debatable / 1,000", "wrong + debatable", "true (count)"]  # fmt: skip
    return _table(header, rows, md)


def fp_examples(findings: Sequence[Finding], types: Sequence[str], top: int) -> str:
    lines: list[str] = []
    for t in types:
        wrong = [f for f in findings if f.type == t and f.verdict == "wrong"]
        debatable = Counter(f.verdict for f in findings if f.type == t and f.verdict.startswith("debatable"))
        if not wrong and not debatable:
            continue
        texts = Counter(f.text for f in wrong)
        extra = "; ".join(f"{k.removeprefix('debatable: ')} {n}" for k, n in debatable.most_common())
        lines.append(
            f"{t}: {len(wrong)} clearly wrong ({len(texts)} distinct)"
            + (f"; debatable: {extra}" if extra else "")
        )
        for text, n in texts.most_common(top):
            f = next(f for f in wrong if f.text == text)
            where = f"{f.line.part}, {f.line.source}:{f.line.lineno}"
            lines.append(f"  {n:4d}x {text!r:<28} {where}: {f.line.text.strip()[:110]!r}")
    return "\n".join(lines)


def show_fp(findings: Sequence[Finding], kind: str) -> str:
    return "\n".join(
        f"{f.verdict:<32} {f.line.part:<10} {f.line.source}:{f.line.lineno}  {f.text!r}  in  "
        f"{f.line.text.strip()!r}"
        for f in findings
        if f.type == kind and f.verdict != "true"
    )


# ---------------------------------------------------------------------------------------------------
# Blocklist


def blocklist_table(md: bool) -> tuple[str, float]:
    patterns = [{"pattern": w} for w in dc.BLOCK_WORDS]
    checks = {
        mode: build_blocklist({"patterns": patterns, "match": mode}, name=f"bench-{mode}", key="bench")
        for mode in ("word", "substring")
    }
    caught: dict[tuple[str, str], int] = Counter()
    total: Counter[str] = Counter()
    elapsed = 0.0
    for case in dc.evasion_cases():
        total[case.kind] += 1
        for mode, check in checks.items():
            t0 = time.perf_counter()
            matches = check.find(case.text)
            elapsed += time.perf_counter() - t0
            caught[case.kind, mode] += any(m.start < case.end and case.start < m.end for m in matches)
    rows = [[k, str(n), *(_pct(caught[k, m], n) for m in checks)] for k, n in total.items()]
    evasions = [k for k in total if not k.startswith("control")]
    rows.append(
        ["all evasions (controls excluded)", str(sum(total[k] for k in evasions)),
         *(_pct(sum(caught[k, m] for k in evasions), sum(total[k] for k in evasions)) for m in checks)]
    )  # fmt: skip
    return _table(
        ["blocklist look-alike", "texts", 'caught, match="word"', 'match="substring"'], rows, md
    ), elapsed


# ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", nargs="+", default=list(dc.RECALL_TYPES), type=str.upper, metavar="TYPE")
    parser.add_argument("--locale", nargs="+", default=list(dc.LOCALES), metavar="LOCALE")
    parser.add_argument(
        "--show-misses", type=str.upper, metavar="TYPE", help="print every value not found exactly"
    )
    parser.add_argument(
        "--show-fp", type=str.upper, metavar="TYPE", help="print every false positive of TYPE"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the tables as Markdown, for the README"
    )
    parser.add_argument(
        "--top", type=int, default=10, help="miss shapes and FP examples per type (default 10)"
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--per-cell", type=int, default=100, help="sentences per type and locale (default 100)"
    )
    args = parser.parse_args(argv)
    for t in [*args.types, *filter(None, [args.show_misses, args.show_fp])]:
        if t not in PII_TYPES:
            parser.error(f"unknown type {t}; valid: {', '.join(PII_TYPES)}")
    if unknown := set(args.locale) - set(dc.LOCALES):
        parser.error(f"unknown locale {sorted(unknown)}; valid: {', '.join(dc.LOCALES)}")
    recall_types = [t for t in args.types if t in dc.RECALL_TYPES]
    fp_types = args.types if args.types != list(dc.RECALL_TYPES) else list(PII_TYPES)

    start = time.perf_counter()
    cases = [
        c
        for c in dc.recall_corpus(args.seed, args.per_cell)
        if c.type in recall_types and c.locale in args.locale
    ]
    fp = dc.fp_corpus()
    lines = fp.lines
    built = time.perf_counter() - start
    check = PiiCheck("bench", PII_TYPES)
    outcomes, recall_s = score(cases, check)
    findings, fp_s = false_positives(fp, check)
    findings = [f for f in findings if f.type in fp_types]

    if args.show_misses:
        print(show_misses(outcomes, args.show_misses))
        return
    if args.show_fp:
        print(show_fp(findings, args.show_fp))
        return

    md = args.markdown
    print(
        f"Recall corpus: {len(cases):,} sentences (seed {args.seed}, Faker {version('faker')}); "
        f"no-PII corpus: {len(lines):,} lines (Python {sys.version.split()[0]} standard library, "
        f"generated logs, JSON, Markdown)\n"
    )
    locales = [loc for loc in dc.LOCALES if loc in args.locale]
    print(recall_tables(outcomes, recall_types, locales, md))
    if not md:
        print()
        print(miss_report(outcomes, recall_types, args.top))
    print()
    print(fp_table(findings, lines, fp_types, md))
    if not md:
        print()
        print(fp_examples(findings, fp_types, args.top))
    print()
    table, bl_s = blocklist_table(md)
    print(table)
    chars = sum(len(c.text) for c in cases) + sum(len(line.text) for line in lines)
    print(
        f"\nscan time: PII recall corpus {recall_s:.2f} s, no-PII corpus {fp_s:.2f} s "
        f"({chars / 1e6 / (recall_s + fp_s):.1f} M chars/s, one find() per sentence or line), blocklist "
        f"{bl_s:.2f} s; corpora built in {built:.1f} s; total {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()
