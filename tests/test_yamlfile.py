"""smmc.yamlfile: the one reader of the YAML files people edit."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smmc.yamlfile import parse_yaml, read_mapping, read_yaml


class SiteError(Exception):
    pass


def test_a_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "actions.yml"
    path.write_text("rules:\n  a: disconnect_meter\n  a: time_sync\n")
    with pytest.raises(
        SiteError, match=r"actions.yml: not valid YAML: duplicate key 'a' \(first at line 2\)"
    ):
        read_mapping(path, SiteError)


def test_merge_keys_still_work_and_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "compose.yml"
    path.write_text("base: &base {a: 1, b: 2}\nsvc:\n  <<: *base\n  b: 3\n")
    assert read_mapping(path, SiteError)["svc"] == {"a": 1, "b": 3}
    path.write_text("base: &base {a: 1}\nsvc:\n  <<: *base\n  b: 3\n  b: 4\n")
    with pytest.raises(SiteError, match="duplicate key 'b'"):
        read_mapping(path, SiteError)


def test_each_problem_is_the_callers_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(SiteError, match=r"nope.yml: cannot read: "):
        read_yaml(missing, SiteError)
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(SiteError, match=r"broken.yml: not valid YAML: .*line 2") as raised:
        read_yaml(broken, SiteError)
    assert "\n" not in str(raised.value)
    latin1 = tmp_path / "latin1.yml"
    latin1.write_bytes("a: canción\n".encode("latin-1"))
    with pytest.raises(SiteError, match=r"latin1.yml: cannot read: .*utf-8"):
        read_yaml(latin1, SiteError)
    listing = tmp_path / "list.yml"
    listing.write_text("- a\n- b\n")
    assert read_yaml(listing, SiteError) == ["a", "b"]
    with pytest.raises(SiteError, match=r"list.yml: expected a mapping at the top level"):
        read_mapping(listing, SiteError)


def test_an_empty_file_is_a_mapping_only_where_the_caller_allows_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing configured yet\n")
    assert read_mapping(empty, SiteError, empty_ok=True) == {}
    with pytest.raises(SiteError, match="expected a mapping"):
        read_mapping(empty, SiteError)


def test_no_arbitrary_objects() -> None:
    with pytest.raises(SiteError, match="not valid YAML"):
        parse_yaml("!!python/object/apply:os.system ['true']", "x.yml", SiteError)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_the_callers_error(text: str) -> None:
    try:
        parse_yaml(text, "site.yml", SiteError)
    except SiteError as exc:
        assert str(exc).startswith("site.yml: not valid YAML: ") and "\n" not in str(exc)
