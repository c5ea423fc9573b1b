"""Routing, grouping and inhibition of ``notify``, pure: the tree as Alertmanager matches it,
each receiver's notification log, and inhibited alerts notified once their source resolves."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from alerter.between import BetweenNotice, Episode
from alerter.model import BLIND_ALERT, FIRING, RESOLVED, AlertState, fingerprint
from alerter.notify import Notification, plan_notification
from alerter.receivers import rfc3339, webhook_payload
from alerter.routing import (
    apply_inhibition,
    build_tree,
    plan_routes,
    source_of,
    upstream_timing,
)
from stackwatch.cli import main
from stackwatch.config import Config, parse_config
from stackwatch.matchers import parse_matcher

NOW = 1_800_000_000.0

ROUTES = {
    "receiver": "team",
    "routes": [
        {
            "matchers": ['severity="critical"'],
            "receiver": "pager",
            "group_by": ["instance"],
            "repeat_interval": "1h",
            "continue": True,
            "routes": [{"matchers": ['instance=~"db[0-9]+"'], "receiver": "dba"}],
        },
        {"matchers": ['instance=~"web[0-9]+"', 'alertname!~"Disk.*"'], "receiver": "web"},
        {"matchers": ['group="services-health-check"'], "receiver": "web", "send_resolved": False},
    ],
    "receivers": [
        {"name": "team", "email": {"to": ["team@stackwatch.test"]}},
        {"name": "pager", "webhook": {"url": "http://127.0.0.1:9/pager"}},
        {"name": "dba", "email": {"to": "dba@stackwatch.test"}},
        {"name": "web", "apprise": {"url": {"env": "WEB_CHAT_URL"}}},
    ],
}


def _config(notify: dict[str, Any]) -> Config:
    return Config.model_validate({"notify": notify, "rules": {"repeat_interval": "4h"}})


def alert(
    name: str, group: str = "threshold-alert-check", state: str = FIRING, **labels: str
) -> AlertState:
    full = {"alertname": name, **labels}
    return AlertState(
        fingerprint=fingerprint(group, full),
        group=group,
        alertname=name,
        labels=full,
        annotations={"summary": f"{name} on {labels.get('instance', '?')}"},
        state=state,
        value=1.0,
        active_since=NOW - 600,
        fired_at=NOW - 300,
        resolved_at=NOW if state == RESOLVED else None,
    )


def receivers(config: Config, a: AlertState) -> list[str]:
    return [r.receiver for r in build_tree(config).match({"group": a.group, **a.labels})]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"severity": "critical", "instance": "web1"}, ["pager", "web"]),  # continue
        ({"severity": "critical", "instance": "db2"}, ["dba"]),  # the child's, not its parent
        ({"severity": "critical", "instance": "db2x"}, ["pager"]),  # regexes are anchored
        ({"severity": "warning", "instance": "web1"}, ["web"]),
        ({"severity": "warning", "instance": "web1", "alertname": "DiskFull"}, ["team"]),
        ({"severity": "warning", "instance": "xweb1"}, ["team"]),  # anchored
        ({"severity": "warning"}, ["team"]),  # no child matches: the root's receiver
    ],
)
def test_the_tree_is_matched_as_alertmanager_matches_it(
    labels: dict[str, str], expected: list[str]
) -> None:
    config = _config(ROUTES)
    assert [r.receiver for r in build_tree(config).match(labels)] == expected


def test_children_inherit_what_they_do_not_set() -> None:
    tree = build_tree(_config(ROUTES))
    pager, web, services = tree.routes
    [dba] = pager.routes
    assert (tree.repeat_interval, tree.send_resolved, tree.group_by) == (14400, True, ("group",))
    assert (dba.repeat_interval, dba.group_by, dba.send_resolved) == (3600, ("instance",), True)
    assert (web.repeat_interval, services.send_resolved) == (14400, False)
    assert dba.key == '{}/{severity="critical"}/{instance=~"db[0-9]+"}'
    # the group's own policy runs as often as the most eager route needs
    assert upstream_timing(tree) == (3600, True)


def test_matchers_take_alertmanagers_syntax() -> None:
    assert parse_matcher('instance=~"web\\d+"').matches({"instance": "web12"})
    assert not parse_matcher('instance=~"web\\d+"').matches({"instance": "web12.example"})
    assert parse_matcher('summary="say \\"hi\\""').value == 'say "hi"'
    assert parse_matcher("severity!=critical").matches({})
    assert parse_matcher('team!~"ops|dev"').matches({"team": "sales"})
    with pytest.raises(ValueError, match="invalid regular expression"):
        parse_matcher('a=~"("')


def test_without_a_notify_section_it_is_todays_one_mail_per_group() -> None:
    config = parse_config("")
    assert config.notify.is_default
    assert [r.receiver for r in build_tree(config).walk()] == ["email"]
    assert not _config({"routes": [{"receiver": "email"}]}).notify.is_default


def _notification(*alerts: AlertState, new: tuple[AlertState, ...] = ()) -> Notification:
    firing = tuple(a for a in alerts if a.state == FIRING)
    resolved = tuple(a for a in alerts if a.state == RESOLVED)
    return Notification("threshold-alert-check", firing, resolved, new or firing)


WEB_KEY = '{}/{instance=~"web[0-9]+",alertname!~"Disk.*"}:{group="threshold-alert-check"}'


def test_each_receiver_gets_its_own_groups_and_repeats_on_its_own_interval() -> None:
    tree = build_tree(_config(ROUTES))
    web1 = alert("HighCpu", severity="critical", instance="web1")
    web2 = alert("HighCpu", severity="critical", instance="web2")
    routed, log = plan_routes(tree, [_notification(web1, web2)], {}, NOW)
    parts = sorted((r.receiver, r.group_key, len(r.notification.fingerprints)) for r in routed)
    assert parts == [
        ("pager", '{}/{severity="critical"}:{instance="web1"}', 1),
        ("pager", '{}/{severity="critical"}:{instance="web2"}', 1),
        (
            "web",
            '{}/{instance=~"web[0-9]+",alertname!~"Disk.*"}:{group="threshold-alert-check"}',
            2,
        ),
    ]
    # an hour later nothing is new: the pager (1h) is reminded, the chat (4h) is not
    again = _notification(web1, web2, new=())
    again = Notification(again.group, again.firing, (), ())
    routed, log2 = plan_routes(tree, [again], log, NOW + 3600)
    assert sorted(r.receiver for r in routed) == ["pager", "pager"]
    routed, _ = plan_routes(tree, [again], {**log, **log2}, NOW + 4 * 3600)
    assert sorted(r.receiver for r in routed) == ["pager", "pager", "web"]


def test_a_route_without_send_resolved_is_not_told_of_the_resolution() -> None:
    tree = build_tree(_config(ROUTES))
    down = alert("ServiceDown", group="services-health-check", instance="api")
    routed, log = plan_routes(tree, [_notification(down)], {}, NOW)
    assert [r.receiver for r in routed] == ["web"]
    gone = alert("ServiceDown", group="services-health-check", state=RESOLVED, instance="api")
    routed, log2 = plan_routes(tree, [_notification(gone)], log, NOW + 60)
    assert routed == []
    [entry] = log2.values()
    assert entry.firing == frozenset()  # cleared: firing again later is news again
    routed, _ = plan_routes(tree, [_notification(down)], {**log, **log2}, NOW + 120)
    assert [r.receiver for r in routed] == ["web"]


INHIBIT = [
    {
        "source_matchers": ['alertname="HostDown"'],
        "target_matchers": ['severity=~"warning|critical"'],
        "equal": ["instance"],
    }
]


def test_a_down_host_inhibits_its_other_alerts_and_they_are_notified_when_it_is_back() -> None:
    rules = _config({"inhibit": INHIBIT}).notify.inhibit
    host_down = alert(
        "HostDown", group="services-health-check", severity="critical", instance="web1"
    )
    cpu = alert("HighCpu", severity="warning", instance="web1")
    other = alert("HighCpu", severity="warning", instance="web2")
    blind = alert(BLIND_ALERT, severity="critical", instance="web1")
    sources = [source_of(host_down)]
    states = apply_inhibition([cpu, other, blind], sources, rules)
    assert [s.inhibited_by for s in states] == [
        "HostDown{instance=web1,severity=critical}",
        None,
        None,
    ]
    # the source inhibits nothing of its own: it matches the targets' matchers too
    assert apply_inhibition([host_down], sources, rules)[0].inhibited_by is None

    mail, after = plan_notification(
        "threshold-alert-check", [], states, NOW, repeat_interval=14400, send_resolved=True
    )
    assert mail is not None
    assert {a.alertname + a.labels["instance"] for a in mail.firing} == {
        "HighCpuweb2",
        f"{BLIND_ALERT}web1",
    }
    # the host is back: the still-firing alert it held back is notified, once
    back = apply_inhibition(after, [], rules)
    mail, after = plan_notification(
        "threshold-alert-check", after, back, NOW + 60, repeat_interval=14400, send_resolved=True
    )
    assert mail is not None
    assert [a.labels["instance"] for a in mail.new] == ["web1"]
    mail, _ = plan_notification(
        "threshold-alert-check", after, after, NOW + 120, repeat_interval=14400, send_resolved=True
    )
    assert mail is None


def test_test_route_prints_the_receivers(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    path = tmp_path / "stackwatch.yml"
    path.write_text(yaml.safe_dump({"notify": ROUTES}))
    code = main(
        [
            "alerts",
            "test-route",
            "--config",
            str(path),
            "--labels",
            "severity=critical,instance=web1",
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "pager,web"
    assert out[1].split() == ["RECEIVER", "KIND", "ROUTE", "GROUP", "KEY", "REPEAT", "RESOLVED"]
    assert out[2].split() == [
        "pager",
        "webhook",
        "notify.routes[0]",
        '{}/{severity="critical"}:{instance="web1"}',
        "1h",
        "yes",
    ]
    assert out[3].split()[:3] == ["web", "apprise", "notify.routes[1]"]


def test_alerts_that_fired_and_resolved_between_checks_go_to_their_routes_once() -> None:
    """Each episode goes where an alert with its labels would, each receiver gets the episodes
    of its routes in one notice, and no notification log is kept: it happened once."""
    config = _config(ROUTES)

    def episode(name: str, **labels: str) -> Episode:
        full = {"alertname": name, **labels}
        return Episode(
            fingerprint=fingerprint("threshold-alert-check", full),
            group="threshold-alert-check",
            alertname=name,
            labels=full,
            annotations={"summary": name},
            active_since=NOW - 900,
            fired_at=NOW - 800,
            resolved_at=NOW - 400,
            peak=0.97,
        )

    notice = BetweenNotice(
        "threshold-alert-check",
        (
            episode("HighCpuUsage", severity="critical", instance="db2"),
            episode("HighCpuUsage", severity="warning", instance="web1"),
            episode("DiskAlmostFull", severity="warning", instance="nas"),
        ),
        since=NOW - 900,
        until=NOW,
    )
    routed, log = plan_routes(build_tree(config), [notice], {}, NOW)

    assert log == {}
    got = {
        r.receiver: [e.labels["instance"] for e in r.notification.episodes]
        for r in routed
        if isinstance(r.notification, BetweenNotice)
    }
    assert got == {"dba": ["db2"], "web": ["web1"], "team": ["nas"]}
    assert len(routed) == 3

    # a webhook hears of it as Alertmanager tells of an alert that fired and resolved
    [pager] = [r for r in routed if r.receiver == "dba"]
    payload = webhook_payload(replace(pager, receiver="pager"), config, NOW)
    assert payload["status"] == "resolved"
    [posted] = payload["alerts"]
    assert posted["status"] == "resolved"
    assert posted["labels"] == {
        "alertname": "HighCpuUsage",
        "instance": "db2",
        "severity": "critical",
    }
    assert (posted["startsAt"], posted["endsAt"]) == (rfc3339(NOW - 800), rfc3339(NOW - 400))
