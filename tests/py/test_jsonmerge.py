from claude_docker.jsonmerge import MISSING, merge3, same


def test_disjoint_changes_both_survive():
    base = {"a": 1, "projects": {"/p": {"x": 1}}}
    ours = {"a": 2, "projects": {"/p": {"x": 1}}}
    theirs = {"a": 1, "projects": {"/p": {"x": 1}, "/q": {"y": 2}}}
    merged, conflicts = merge3(base, ours, theirs)
    assert merged == {"a": 2, "projects": {"/p": {"x": 1}, "/q": {"y": 2}}}
    assert conflicts == []


def test_nested_keys_merge_recursively():
    base = {"projects": {"/p": {"allowedTools": [], "lastCost": 1}}}
    ours = {"projects": {"/p": {"allowedTools": ["Bash"], "lastCost": 1}}}
    theirs = {"projects": {"/p": {"allowedTools": [], "lastCost": 5}}}
    merged, conflicts = merge3(base, ours, theirs)
    assert merged == {"projects": {"/p": {"allowedTools": ["Bash"], "lastCost": 5}}}
    assert not conflicts


def test_true_conflict_later_writer_wins_and_is_reported():
    merged, conflicts = merge3({"theme": "dark"}, {"theme": "light"}, {"theme": "ansi"})
    assert merged == {"theme": "light"}
    assert [c.path for c in conflicts] == [("theme",)]
    assert conflicts[0].winner == "session"
    assert "light" not in conflicts[0].describe()  # values are never reported: they may be secrets


def test_edit_beats_deletion_either_way():
    merged, conflicts = merge3({"k": 1, "z": 0}, {"z": 0}, {"k": 2, "z": 0})
    assert merged == {"k": 2, "z": 0} and conflicts[0].winner == "host"
    merged, conflicts = merge3({"k": 1}, {"k": 3}, {})
    assert merged == {"k": 3} and conflicts[0].winner == "session"


def test_unopposed_deletion_applies():
    merged, conflicts = merge3({"k": 1, "m": 2}, {"m": 2}, {"k": 1, "m": 2})
    assert merged == {"m": 2} and not conflicts


def test_newer_token_always_wins():
    base = {"claudeAiOauth": {"accessToken": "a0", "refreshToken": "r0", "expiresAt": 100}}
    ours = {"claudeAiOauth": {"accessToken": "a1", "refreshToken": "r1", "expiresAt": 200}}
    theirs = {"claudeAiOauth": {"accessToken": "a2", "refreshToken": "r2", "expiresAt": 300}}
    merged, conflicts = merge3(base, ours, theirs)
    assert merged["claudeAiOauth"]["refreshToken"] == "r2"  # the host refreshed later: keep its token
    assert conflicts[0].winner == "host"
    merged, _ = merge3(base, theirs, ours)
    assert merged["claudeAiOauth"]["refreshToken"] == "r2"  # and the session's, when it is the newer one


def test_token_objects_are_never_mixed_field_by_field():
    base = {"t": {"accessToken": "a0", "refreshToken": "r0", "expiresAt": 1}}
    ours = {"t": {"accessToken": "a1", "refreshToken": "r0", "expiresAt": 2}}
    theirs = {"t": {"accessToken": "a0", "refreshToken": "r2", "expiresAt": 3}}
    merged, _ = merge3(base, ours, theirs)
    assert merged["t"] == theirs["t"]


def test_both_sides_add_same_key_differently_is_a_conflict():
    merged, conflicts = merge3(MISSING, {"a": 1, "b": 1}, {"a": 2, "c": 3})
    assert merged == {"a": 1, "c": 3, "b": 1}
    assert [c.path for c in conflicts] == [("a",)]


def test_strict_equality_tells_true_from_one():
    assert not same(1, True) and not same(1, 1.0) and same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    merged, _ = merge3({"x": 1}, {"x": True}, {"x": 1})
    assert merged["x"] is True


def test_host_key_order_is_kept():
    merged, _ = merge3({"b": 1, "a": 1}, {"b": 1, "a": 1, "new": 1}, {"z": 1, "b": 1, "a": 1})
    assert list(merged) == ["z", "b", "a", "new"]
