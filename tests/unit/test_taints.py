"""Taints and tolerations (kubeloop.api.taints): Kubernetes' matching rules, the eviction
delay and the DefaultTolerationSeconds admission."""

from __future__ import annotations

import pytest

from kubeloop.api import taints

UNREACHABLE_NE = {"key": taints.UNREACHABLE, "effect": "NoExecute"}


@pytest.mark.parametrize("toleration, taint, expected", [
    ({"key": "a", "operator": "Equal", "value": "1", "effect": "NoSchedule"}, {"key": "a", "value": "1", "effect": "NoSchedule"}, True),
    ({"key": "a", "value": "1"}, {"key": "a", "value": "2", "effect": "NoSchedule"}, False),  # Equal is the default
    ({"key": "a", "operator": "Exists"}, {"key": "a", "value": "2", "effect": "NoExecute"}, True),  # any effect
    ({"key": "a", "operator": "Exists", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}, False),
    ({"operator": "Exists"}, {"key": "anything", "effect": "NoExecute"}, True),  # tolerates everything
    ({"key": "b", "operator": "Exists"}, {"key": "a", "effect": "NoExecute"}, False),
    ({"key": "a"}, {"key": "a", "effect": "NoSchedule"}, True),  # empty value equals empty value
])
def test_tolerates(toleration, taint, expected):
    assert taints.tolerates(toleration, taint) is expected


def test_untolerated_only_counts_the_given_effects():
    node = [{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "effect": "NoSchedule"}]
    assert taints.untolerated(node, [], ("NoSchedule", "NoExecute")) == [node[1]]
    assert taints.untolerated(node, [{"key": "b", "operator": "Exists"}], ("NoSchedule", "NoExecute")) == []
    assert taints.describe({"key": "b", "effect": "NoSchedule"}) == "{b: }"


def test_eviction_delay():
    bounded = {"key": taints.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
    forever = {"key": taints.UNREACHABLE, "operator": "Exists"}
    assert taints.eviction_delay([], []) is None
    assert taints.eviction_delay([UNREACHABLE_NE], []) == 0.0
    assert taints.eviction_delay([UNREACHABLE_NE], [bounded]) == 30.0
    assert taints.eviction_delay([UNREACHABLE_NE], [bounded, forever]) is None  # forever wins
    assert taints.eviction_delay([UNREACHABLE_NE], [dict(bounded, tolerationSeconds=-5)]) == 0.0
    other = {"key": "x", "effect": "NoExecute"}
    assert taints.eviction_delay([UNREACHABLE_NE, other], [bounded]) == 0.0  # x is not tolerated
    assert taints.eviction_delay([{"key": "x", "effect": "NoSchedule"}], []) is None  # not NoExecute


def test_taint_added():
    assert taints.taint_added({"timeAdded": "1970-01-01T00:01:00Z"}) == 60.0
    assert taints.taint_added({}) is None
    assert taints.taint_added({"timeAdded": "soon"}) is None


def test_default_tolerations_added_unless_the_pod_has_its_own():
    pod: dict = {"spec": {}}
    taints.default_tolerations(pod)
    assert pod["spec"]["tolerations"] == [
        {"key": taints.NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": taints.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    ]
    own = {"key": taints.UNREACHABLE, "operator": "Equal", "value": "x", "effect": "NoExecute", "tolerationSeconds": 2}
    pod = {"spec": {"tolerations": [own]}}
    taints.default_tolerations(pod)
    assert [t["key"] for t in pod["spec"]["tolerations"]] == [taints.UNREACHABLE, taints.NOT_READY]
    pod = {"spec": {"tolerations": [{"operator": "Exists"}]}}  # tolerates everything already
    taints.default_tolerations(pod)
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
