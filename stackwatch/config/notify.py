"""``notify``: routing of alerts to receivers, grouping, inhibition (Alertmanager's model).

With no ``notify`` section every group mails ``smtp.to`` as it always has: the root route sends
everything to the built-in receiver ``email``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

from stackwatch.config.base import Secret, Timeout, _Model, unique_names
from stackwatch.config.values import Duration, HttpUrl, between, count_between
from stackwatch.matchers import Matcher, parse_matcher

#: the receiver of the root route unless ``notify.receiver`` says otherwise: mail to smtp.to
DEFAULT_RECEIVER = "email"
#: the pseudo-label that holds an alert's rule group (unless the alert has a label of that name)
GROUP_LABEL = "group"


def _matcher(text: str) -> str:
    parse_matcher(text)  # raises ValueError with the reason
    return text


MatcherText = Annotated[str, AfterValidator(_matcher)]
RepeatInterval = Annotated[Duration, between("1s", "365d")]


def _url_kind(value: Any) -> str:
    return "URL" if isinstance(value, str) else "Secret"


#: a URL as it is, or one read like a secret (for URLs that carry a token)
UrlOrSecret = Annotated[
    Annotated[HttpUrl, Tag("URL")] | Annotated[Secret, Tag("Secret")], Discriminator(_url_kind)
]


class EmailReceiver(_Model):
    to: list[str] = Field(default_factory=list, description="empty: smtp.to")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class WebhookReceiver(_Model):
    """POSTs Alertmanager's webhook JSON (version 4) to ``url``."""

    url: UrlOrSecret
    timeout: Timeout = 10.0
    max_alerts: Annotated[int, count_between(0, 100000)] = Field(
        default=0, description="alerts per message, the rest counted in truncatedAlerts; 0: all"
    )


class AppriseReceiver(_Model):
    """Any Apprise URL (Slack, Telegram, Discord, Teams, Matrix, ntfy, Gotify, json:// …)."""

    url: Secret  # Apprise URLs carry their tokens: never inline


class ReceiverConfig(_Model):
    name: str = Field(min_length=1)
    email: EmailReceiver | None = None
    webhook: WebhookReceiver | None = None
    apprise: AppriseReceiver | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ReceiverConfig:
        kinds = [k for k in ("email", "webhook", "apprise") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of email, webhook or apprise")
        return self

    @property
    def kind(self) -> str:
        if self.webhook is not None:
            return "webhook"
        return "apprise" if self.apprise is not None else "email"


class RouteConfig(_Model):
    """A node of the routing tree; unset keys are inherited from the parent route."""

    matchers: list[MatcherText] = Field(default_factory=list)
    receiver: str | None = None
    group_by: list[str] | None = None
    repeat_interval: RepeatInterval | None = None
    send_resolved: bool | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)

    def parsed_matchers(self) -> tuple[Matcher, ...]:
        return tuple(parse_matcher(m) for m in self.matchers)


class InhibitRule(_Model):
    """While an alert matching ``source_matchers`` fires, alerts matching ``target_matchers``
    with the same values of the ``equal`` labels are not notified."""

    source_matchers: list[MatcherText] = Field(min_length=1)
    target_matchers: list[MatcherText] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)


class NotifyConfig(_Model):
    """The root route (its receiver, grouping and timing), its child routes, the receivers and
    the inhibition rules."""

    receiver: str = DEFAULT_RECEIVER
    group_by: list[str] = Field(default_factory=lambda: [GROUP_LABEL])
    repeat_interval: RepeatInterval | None = Field(
        default=None, description="unset: rules.repeat_interval"
    )
    send_resolved: bool | None = Field(default=None, description="unset: rules.send_resolved")
    routes: list[RouteConfig] = Field(default_factory=list)
    receivers: list[ReceiverConfig] = Field(default_factory=list)
    inhibit: list[InhibitRule] = Field(default_factory=list)
    # a dead man's switch outside this server (healthchecks.io, Uptime Kuma push): pinged after
    # each check run; its URL holds a token, so it may be a secret reference
    heartbeat_url: HttpUrl | Secret | None = None
    heartbeat_fail_url: HttpUrl | Secret | None = None  # unset: heartbeat_url + "/fail"
    heartbeat_timeout: Timeout = 5.0

    @field_validator("receivers")
    @classmethod
    def _unique_names(cls, value: list[ReceiverConfig]) -> list[ReceiverConfig]:
        unique_names(value, "receiver")
        return value

    @property
    def is_default(self) -> bool:
        """Whether this is today's one mail per group to smtp.to (inhibition aside)."""
        return (
            not self.routes
            and self.receiver == DEFAULT_RECEIVER
            and self.group_by == [GROUP_LABEL]
            and self.repeat_interval is None
            and self.send_resolved is None
            and all(r.name != DEFAULT_RECEIVER for r in self.receivers)
        )

    def receiver_config(self, name: str) -> ReceiverConfig | None:
        """The receiver called ``name``; the built-in ``email`` unless one is defined."""
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        if name == DEFAULT_RECEIVER:
            return ReceiverConfig(name=DEFAULT_RECEIVER, email=EmailReceiver())
        return None


def notify_problems(notify: NotifyConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Receivers named by routes that no receiver defines: each key path and its message."""
    known = {r.name for r in notify.receivers} | {DEFAULT_RECEIVER}
    names = ", ".join(sorted(known))
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if notify.receiver not in known:
        problems.append(
            (("notify", "receiver"), f"no receiver named {notify.receiver!r} (receivers: {names})")
        )

    def walk(routes: list[RouteConfig], path: tuple[str | int, ...]) -> None:
        for index, route in enumerate(routes):
            here = (*path, index)
            if route.receiver is not None and route.receiver not in known:
                problems.append(
                    (
                        (*here, "receiver"),
                        f"no receiver named {route.receiver!r} (receivers: {names})",
                    )
                )
            walk(route.routes, (*here, "routes"))

    walk(notify.routes, ("notify", "routes"))
    return problems
