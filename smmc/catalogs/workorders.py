"""Work-order errors: classify a result text of the HPE, LPE or technical WO report by the seed's table."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ._yaml import SOURCE, Field, check_entry, check_sections, merge_section, read_yaml, section
from .errors import CatalogError

FILE_NAME = "workorder_errors.yaml"
MAINTENANCE = ("field", "specialist", "remote", "retry")
OBJECTS = ("concentrator", "meter")
UNCLASSIFIED = "unclassified"

_FIELDS = (
    Field("id", str),
    Field("error", str),
    Field("description", str),
    Field("action", str),
    Field("category", str),
    Field("maintenance", str, MAINTENANCE),
    Field("object", str, OBJECTS),
    Field("pattern", str),
    Field("examples", list),
    Field("seed_row", bool, required=False, default=True),
)
_ID = re.compile(r"[a-z][a-z0-9_]*")
_BRACKET = re.compile(r"\s*\[([^\]]*)\]")
_TB_ACK = re.compile(r"TB[ _]?ACK[ _]?(\d+)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class WoErrorRule:
    id: str
    error: str  # the text of the seed's "Workorder errors" column
    description: str
    action: str
    category: str
    maintenance: str
    object: str
    pattern: re.Pattern[str]
    examples: tuple[str, ...]
    seed_row: bool


@dataclass(frozen=True)
class WoErrorMatch:
    outcome: str  # "ok" or "error"
    code: str  # the rule id, "ok" or "unclassified"
    category: str  # the rule's category, "ok" or "unclassified"
    maintenance: str  # field | specialist | remote | retry, or "none" for ok and unclassified
    action: str
    description: str
    activity: str | None  # from a leading "[ACTIVITY]"
    tb_ack: str | None  # from "[TB ACK_nn]" / "[TB_ACK_nn]", normalised to "TB_ACK_nn"
    detail: str  # the text after the brackets, whitespace collapsed
    object: str | None = None  # concentrator or meter, for errors the catalog knows


def split_prefix(text: str) -> tuple[str | None, str | None, str]:
    """`[ACTIVITY] [TB ACK_nn] detail` -> (activity, "TB_ACK_nn", detail); either bracket may be absent."""
    activity = tb_ack = None
    pos = 0
    while m := _BRACKET.match(text, pos):
        inner = m.group(1).strip()
        if tb_ack is None and (ack := _TB_ACK.fullmatch(inner)):
            tb_ack = f"TB_ACK_{ack.group(1)}"
        elif activity is None and tb_ack is None and inner:
            activity = inner
        else:
            break
        pos = m.end()
    detail = _SPACES.sub(" ", text[pos:]).strip()
    if not detail and tb_ack is None:  # "[REDACTED]" alone is a detail, not an activity with no result
        return None, None, _SPACES.sub(" ", text).strip()
    return activity, tb_ack, detail


class WoErrorCatalog:
    def __init__(self, rules: tuple[WoErrorRule, ...]) -> None:
        self.rules = rules
        self.by_id = {r.id: r for r in rules}
        self.categories = tuple(dict.fromkeys([*(r.category for r in rules), UNCLASSIFIED]))
        # Report files repeat a few dozen distinct texts over hundreds of thousands of rows.
        self.classify = functools.lru_cache(maxsize=65536)(self._classify)

    def rule(self, rule_id: str) -> WoErrorRule:
        try:
            return self.by_id[rule_id]
        except KeyError:
            raise CatalogError(f"unknown work-order error id {rule_id!r}", file=FILE_NAME) from None

    def _classify(self, text: str) -> WoErrorMatch:
        activity, tb_ack, detail = split_prefix(text if isinstance(text, str) else str(text))
        if detail.upper() == "OK":
            return WoErrorMatch("ok", "ok", "ok", "none", "", "", activity, tb_ack, detail)
        rule = self.match_rule(detail)
        if rule is None:
            return WoErrorMatch("error", UNCLASSIFIED, UNCLASSIFIED, "none", "", "", activity, tb_ack, detail)
        return WoErrorMatch(
            "error",
            rule.id,
            rule.category,
            rule.maintenance,
            rule.action,
            rule.description,
            activity,
            tb_ack,
            detail,
            rule.object,
        )

    def match_rule(self, detail: str) -> WoErrorRule | None:
        for rule in self.rules:
            if rule.pattern.fullmatch(detail):
                return rule
        return None


def load(base: Path, override: Path | None) -> WoErrorCatalog:
    data = read_yaml(base)
    check_sections(data, ("errors",), file=base)
    entries = section(data, "errors", list, file=base)
    if override is not None:
        odata = read_yaml(override)
        check_sections(odata, ("errors",), file=override)
        entries = merge_section(entries, odata, "errors", lambda e: e["id"], base, override)
    rules: list[WoErrorRule] = []
    files: dict[str, Path] = {}
    for i, raw in enumerate(entries):
        file = raw.get(SOURCE, base) if isinstance(raw, dict) else base
        where = f"errors[{i}]" + (f" ({raw['id']})" if isinstance(raw, dict) and "id" in raw else "")
        e = check_entry(raw, _FIELDS, file=file, where=where)
        if not _ID.fullmatch(e["id"]) or e["id"] in (UNCLASSIFIED, "ok"):
            raise CatalogError(
                f"id {e['id']!r} must be snake_case and not 'ok' or 'unclassified'", file=file, entry=where
            )
        if e["id"] in files:
            raise CatalogError("id listed twice", file=file, entry=where)
        if not _ID.fullmatch(e["category"]) or e["category"] in (UNCLASSIFIED, "ok"):
            raise CatalogError(
                f"category {e['category']!r} must be snake_case and not 'ok' or 'unclassified'",
                file=file,
                entry=where,
            )
        try:
            pattern = re.compile(e["pattern"], re.IGNORECASE)
        except re.error as exc:
            raise CatalogError(
                f"pattern {e['pattern']!r} is not a valid regex: {exc}", file=file, entry=where
            ) from None
        examples = e["examples"]
        if not examples or not all(isinstance(x, str) and x.strip() for x in examples):
            raise CatalogError("examples must be a non-empty list of texts", file=file, entry=where)
        files[e["id"]] = file
        rules.append(WoErrorRule(**{**e, "pattern": pattern, "examples": tuple(examples)}))
    catalog = WoErrorCatalog(tuple(rules))
    # Each entry's examples must classify to that entry: this catches a pattern that does not match its
    # own error text and one that shadows a later entry.
    for rule in rules:
        for example in rule.examples:
            got = catalog.match_rule(split_prefix(example)[2])
            if got is None:
                raise CatalogError(
                    f"example {example!r} is not matched by its pattern {rule.pattern.pattern!r}",
                    file=files[rule.id],
                    entry=rule.id,
                )
            if got is not rule:
                raise CatalogError(
                    f"example {example!r} is taken by the earlier entry {got.id!r} "
                    f"(pattern {got.pattern.pattern!r}, in {files[got.id]})",
                    file=files[rule.id],
                    entry=rule.id,
                )
    return catalog
