"""Label and field selector parsing and matching (apimachinery's syntax)."""

import pytest

from kubeloop.api.errors import BadRequest
from kubeloop.api.selectors import parse_field_selector, parse_label_selector, selector_from_object

LABELS = {"app": "kubia", "tier": "web", "env": "prod"}


@pytest.mark.parametrize("text, expected", [
    ("", True),
    ("app=kubia", True),
    ("app==kubia", True),
    ("app=other", False),
    ("app!=other", True),
    ("missing!=x", True),
    ("app in (kubia, foo)", True),
    ("app notin (kubia)", False),
    ("tier", True),
    ("!tier", False),
    ("!missing", True),
    ("app=kubia,tier=web,env in (prod,dev)", True),
    ("app=kubia,tier=db", False),
])
def test_label_selector(text, expected):
    assert parse_label_selector(text).matches(LABELS) is expected


def test_label_selector_syntax_error():
    with pytest.raises(BadRequest):
        parse_label_selector("app=kubia tier=web")


def test_structured_selector():
    sel = selector_from_object({"matchLabels": {"app": "kubia"},
                                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]})
    assert sel.matches(LABELS)
    assert not sel.matches({"app": "kubia", "env": "dev"})
    assert str(sel) == "app=kubia,env in (prod)"


def test_field_selector():
    obj = {"metadata": {"name": "x", "namespace": "default"}, "spec": {"nodeName": "node-1"},
           "involvedObject": {"kind": "Service"}}
    assert parse_field_selector("metadata.name=x,spec.nodeName=node-1").matches(obj)
    assert not parse_field_selector("spec.nodeName!=node-1").matches(obj)
    assert parse_field_selector("involvedObject.kind==Service").matches(obj)
    assert parse_field_selector("metadata.name=x").exact("metadata.name") == "x"
    with pytest.raises(BadRequest):
        parse_field_selector("metadata.name")
