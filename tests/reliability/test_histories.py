"""Generated histories against the oracle (hypothesis stateful testing on real moto).

Each history is a random sequence of what the outside world does (writes, with
writer-set tags and metadata; consent items with versions, tier changes and
malformed ones; reopens, archives, deletions, erasure requests, legal holds;
nightly sweeps) across several users, interleaved with deliveries of the
resulting events the way AWS may make them: late, out of order, twice, records
replayed after newer ones, deletes of processed messages lost. Whenever
processing has settled, S3 (every key's versions and tags) and the ledger must
equal what `model.World` derives from POLICY.md.

Chat events of one user reach the handler in the order the app sent them
(duplicates aside); everything else interleaves freely. Sweeps run on a settled
system (their races are in test_races.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test
from moto.moto_api._internal import mock_random

from .conftest import PROFILE, budget
from .figures import FIGURES
from .harness import Deployment
from .model import World

pytestmark = pytest.mark.usefixtures("two_due_shards")  # a sweep costs 2 pages, not 16 (conftest.py)

USERS = ("u1", "u2", "Zoë +%20")  # user ids may hold any character allowed in a key segment
KEYS = (
    "chats/u1/c1.json",
    "code-sessions/u1/s1.jsonl",
    "chats/u2/c1.json",
    "chats/Zoë +%20/c 1+%41é.json",
)
START = datetime(2025, 8, 20, tzinfo=UTC)  # before the policy's effective date

STEPS = st.sampled_from(
    [timedelta(seconds=1), timedelta(minutes=5), timedelta(hours=7), timedelta(days=1), timedelta(days=12),
     timedelta(days=31), timedelta(days=400), timedelta(days=1900)]
)  # fmt: skip
TIERS = st.sampled_from(["free", "pro", "max", "pro", "max", "team", "enterprise", "api", "platinum", "", None, 7])
CONSENTS = st.sampled_from(["granted", "granted", "granted", "denied", "denied", "pending", None, "yes"])
CHANGED = st.sampled_from(["now", "now", "now", "earlier", "missing", "bad"])
TIER_CHANGED = st.sampled_from(["missing", "missing", "now", "bad"])
RETENTION = st.sampled_from([None, None, None, 1, 90, 3650, 0, 4000, "30"])
BAD_INSTANTS = ("yesterday", "2025-13-01T00:00:00Z", "2025-09-01 00:00", 1756684800)
WRITER_TAGS = st.dictionaries(
    st.sampled_from(["team", "project", "source", "lang", "app", "t6", "t7", "t8", "t9", "t10", "training-eligible"]),
    st.sampled_from(["x", "true", "a b"]),
    max_size=10,
)
METADATA = st.sampled_from([{}, {}, {}, {"incognito": "true"}, {"Incognito": "TRUE"}, {"incognito": "false"}])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Histories(RuleBasedStateMachine):
    """Every kind of event, with chaotic delivery."""

    deployment: Deployment
    name = "all-events"
    lifecycle = True  # deletions, erasures, holds, sweeps

    def __init__(self) -> None:
        super().__init__()
        self.d = self.deployment
        self.d.reset()
        self.world = World(USERS, KEYS)
        self.clock = START
        self.versions = dict.fromkeys(USERS, 0)
        self.dirty = False
        self.sweeps = 0
        FIGURES.histories[self.name] += 1

    # -- time ---------------------------------------------------------------------------------

    def tick(self, step: timedelta) -> datetime:
        self.clock += step
        self.d.clock.now = self.clock
        FIGURES.steps += 1
        return self.clock

    # -- what the world does ----------------------------------------------------------------------

    @initialize(user=st.sampled_from(USERS), step=STEPS)
    def first_consent(self, user: str, step: timedelta) -> None:
        """Most histories start with someone who said yes (the default for new users)."""
        at = self.tick(step)
        self._put_consent(user, {"tier": "pro", "training_consent": "granted", "consent_changed_at": iso(at)})

    @rule(key=st.sampled_from(KEYS), step=STEPS, metadata=METADATA, tags=WRITER_TAGS)
    def write(self, key: str, step: timedelta, metadata: dict[str, str], tags: dict[str, str]) -> None:
        if self.world.chats[key].deleted_at is not None:
            return  # a deleted chat is never written again (chat ids are not reused)
        at = self.tick(step)
        self.d.put_chat(key, at, metadata=metadata, tags=tags)
        self.world.write(key, at, metadata, tags)
        self.dirty = True

    @rule(
        user=st.sampled_from(USERS),
        step=STEPS,
        tier=TIERS,
        consent=CONSENTS,
        changed=CHANGED,
        tier_changed=TIER_CHANGED,
        retention=RETENTION,
        bad=st.sampled_from(BAD_INSTANTS),
    )
    def change_consent(
        self,
        user: str,
        step: timedelta,
        tier: Any,
        consent: Any,
        changed: str,
        tier_changed: str,
        retention: Any,
        bad: Any,
    ) -> None:
        at = self.tick(step)
        item: dict[str, Any] = {}
        if tier is not None:
            item["tier"] = tier
        if consent is not None:
            item["training_consent"] = consent
        stamps = {"now": iso(at), "earlier": iso(at - timedelta(days=10)), "bad": bad}
        if changed in stamps:
            item["consent_changed_at"] = stamps[changed]
        if tier_changed in stamps:
            item["tier_changed_at"] = stamps[tier_changed]
        if retention is not None:
            item["retention_days"] = retention
        self._put_consent(user, item)

    def _put_consent(self, user: str, item: dict[str, Any]) -> None:
        self.versions[user] += 1
        item = {**item, "user_id": user, "version": self.versions[user]}
        self.d.put_consent(item)
        self.world.consent[user] = item
        self.dirty = True

    @rule(user=st.sampled_from(USERS), step=STEPS)
    def remove_consent(self, user: str, step: timedelta) -> None:
        self.tick(step)
        self.d.delete_consent(user)
        self.world.consent[user] = None
        self.dirty = True

    def pick(self, data: st.DataObject, fits: Any) -> str | None:
        """A key the event applies to (drawn among those only, so that no step is wasted)."""
        keys = [k for k in KEYS if fits(self.world.chats[k])]
        return data.draw(st.sampled_from(keys)) if keys else None

    @rule(data=st.data(), step=STEPS)
    def reopen(self, data: st.DataObject, step: timedelta) -> None:
        key = self.pick(data, lambda c: c.ever_written and not c.dead)
        if key is None:
            return
        at = self.tick(step)
        self._event("Chat Reopened", key, at)
        self.world.reopen(key, at)

    @rule(data=st.data(), step=STEPS)
    def archive(self, data: st.DataObject, step: timedelta) -> None:
        key = self.pick(data, lambda c: c.ever_written and not c.dead)
        if key is None:
            return
        self._event("Chat Archived", key, self.tick(step))

    @precondition(lambda self: self.lifecycle)
    @rule(data=st.data(), step=STEPS)
    def delete(self, data: st.DataObject, step: timedelta) -> None:
        key = self.pick(data, lambda c: c.written and not c.dead)
        if key is None:
            return
        at = self.tick(step)
        self._event("Chat Deleted", key, at)
        self.world.delete(key, at)

    @precondition(lambda self: self.lifecycle)
    @rule(user=st.sampled_from(USERS), step=STEPS)
    def request_erasure(self, user: str, step: timedelta) -> None:
        at = self.tick(step)
        self.d.chat_event("Erasure Requested", {"user_id": user}, at)
        self.world.erase(user, at)
        self.dirty = True

    @precondition(lambda self: self.lifecycle)
    @rule(data=st.data(), on=st.booleans(), step=STEPS)
    def legal_hold(self, data: st.DataObject, on: bool, step: timedelta) -> None:
        # A hold is placed on chats that are still there, and released from held ones.
        # (A hold on a key with nothing stored holds nothing: the chat app places them on stored chats.)
        key = self.pick(data, lambda c: c.written and not c.purged and not c.dead and not c.held if on else c.held)
        if key is None:
            return
        at = self.tick(step)
        self._event("Legal Hold Placed" if on else "Legal Hold Released", key, at)
        self.world.hold(key, on, at)

    def _event(self, detail_type: str, key: str, at: datetime) -> None:
        user = key.split("/")[1]
        # Keys in chat-app events are the keys as stored (POLICY.md: never decoded).
        self.d.chat_event(detail_type, {"user_id": user, "key": key}, at)
        self.dirty = True

    # -- how AWS delivers ---------------------------------------------------------------------------

    @rule(rng=st.randoms(use_true_random=False))
    def deliver_some_chat_events(self, rng: Any) -> None:
        """EventBridge: some events now, per user in order, some twice; the rest later."""
        self.d.deliver_events(rng=rng, twice=0.3)

    @rule(rng=st.randoms(use_true_random=False))
    def deliver_some_writes(self, rng: Any) -> None:
        """S3 -> SQS: a shuffled batch, some messages held back, some deletes lost (delivered again)."""
        self.d.deliver_sqs(self.d.write_url, rng=rng, hold_back=0.3, lose_delete=0.3)

    @rule(rng=st.randoms(use_true_random=False))
    def deliver_some_stream(self, rng: Any) -> None:
        """DynamoDB Streams: some records now, shuffled; sometimes an old record replayed after newer ones."""
        self.d.deliver_stream(rng=rng, replay=0.3)

    @rule(rng=st.randoms(use_true_random=False))
    def deliver_some_work(self, rng: Any) -> None:
        self.d.deliver_sqs(self.d.work_url, rng=rng, hold_back=0.3, lose_delete=0.3)

    @rule()
    def settle_and_check(self) -> None:
        self.settle()
        self.check()

    @precondition(lambda self: self.lifecycle and self.sweeps < 2)  # a sweep costs a page per shard
    @rule(step=STEPS)
    def nightly_sweep(self, step: timedelta) -> None:
        self.sweeps += 1
        self.settle()
        now = self.tick(step)
        self.d.schedule_sweep(now)
        self.d.settle()
        self.world.sweep(now)
        self.check()

    def settle(self) -> None:
        self.d.settle()
        self.dirty = False

    def check(self) -> None:
        FIGURES.checks += 1
        assert not self.d.stream_dead_letters and not self.d.event_dead_letters, "a record failed for good"
        seen = self.d.observe()
        try:
            self.world.check(seen)
        except AssertionError as err:
            if "object lost" in str(err):
                FIGURES.objects_lost += 1
            raise

    def teardown(self) -> None:
        """Every history ends with everything delivered and checked."""
        try:
            self.settle()
            self.check()
        finally:
            self.count_redeliveries()

    def count_redeliveries(self) -> None:
        FIGURES.redeliveries += self.d.log.duplicates + self.d.log.lost_deletes + self.d.log.replays
        self.d.log.duplicates = self.d.log.lost_deletes = self.d.log.replays = 0


class ConsentHistories(Histories):
    """Writes, reopens and consent changes only: the safety invariant under consent churn."""

    name = "consent-churn"
    lifecycle = False


def run(machine: type[Histories], deployment: Deployment, examples: int, steps: int) -> None:
    machine.deployment = deployment
    run_state_machine_as_test(machine, settings=settings(max_examples=budget(examples), stateful_step_count=steps))


@pytest.mark.long
def test_generated_histories_match_the_policy(deployment: Deployment) -> None:
    run(Histories, deployment, examples=350, steps=14)


@pytest.mark.long
def test_consent_churn_histories_match_the_policy(deployment: Deployment) -> None:
    run(ConsentHistories, deployment, examples=450, steps=10)


# For each planted bug, a history known to expose it: the oracle must bite on it whatever the search finds.
_DENY = {"tier": "pro", "consent": "denied", "changed": "now", "tier_changed": "missing", "retention": None, "bad": 0}
_PLAIN = {"metadata": {}, "tags": {}}
EXPOSING: dict[str, list[tuple[str, dict[str, Any]]]] = {
    # Written and tagged eligible while consent is granted; consent then denied: the stored chat must be retagged.
    "retag-ignores-consent": [
        ("first_consent", {"user": "u1", "step": timedelta(days=12)}),
        ("write", {"key": "chats/u1/c1.json", "step": timedelta(days=1), **_PLAIN}),
        ("settle_and_check", {}),
        ("change_consent", {"user": "u1", "step": timedelta(days=1), **_DENY}),
        ("settle_and_check", {}),
    ],
    # Consent denied, and the writer tags its chat eligible: ours must win.
    "write-trusts-writer-tags": [
        ("first_consent", {"user": "u1", "step": timedelta(days=12)}),
        ("change_consent", {"user": "u1", "step": timedelta(days=1), **_DENY}),
        ("settle_and_check", {}),
        (
            "write",
            {
                "key": "chats/u1/c1.json",
                "step": timedelta(days=1),
                "metadata": {},
                "tags": {"training-eligible": "true"},
            },
        ),
        ("settle_and_check", {}),
    ],
    # Consent granted, an incognito chat written: never eligible.
    "incognito-ignored": [
        ("first_consent", {"user": "u1", "step": timedelta(days=12)}),
        (
            "write",
            {"key": "chats/u1/c1.json", "step": timedelta(days=1), "metadata": {"incognito": "true"}, "tags": {}},
        ),
        ("settle_and_check", {}),
    ],
}


def seeded(machine: type[Histories]) -> type[Histories]:
    """`machine` with moto's identifiers (versions, messages) seeded from each history: moto draws them from its
    own generator, which hypothesis does not seed, so a failing history replayed (hypothesis replays it to
    report it) got other identifiers, and what ran before in the process decided whether it failed again."""

    class Seeded(machine):  # type: ignore[valid-type,misc]
        @initialize(user=st.sampled_from(USERS), step=STEPS, seed=st.integers(0, 2**32 - 1))
        def first_consent(self, user: str, step: timedelta, seed: int = 0) -> None:
            mock_random.seed(seed)
            super().first_consent(user, step)

    return Seeded


def replay(machine: type[Histories], deployment: Deployment, steps: list[tuple[str, dict[str, Any]]]) -> None:
    """One given history, step by step, then the teardown's final check (as hypothesis runs a history)."""
    machine.deployment = deployment
    history = machine()
    for name, arguments in steps:
        getattr(history, name)(**arguments)
    history.teardown()


def plant(planted: str, monkeypatch: pytest.MonkeyPatch) -> type[Histories]:
    """Plant the known bug `planted` in the core; the machine whose histories can expose it."""
    if planted == "retag-ignores-consent":
        from consentry.service.handlers import events

        monkeypatch.setattr(events, "consent_change", lambda record: None)  # a consent change never retags
    elif planted == "write-trusts-writer-tags":
        from consentry.service.flows import enforcer

        real = enforcer.plan_tags  # the enforcer's own reference is the one it calls
        monkeypatch.setattr(enforcer, "plan_tags", lambda current, ours, key: real(current, {**ours, **current}, key))
    else:
        from consentry.service.aws import chat_store

        monkeypatch.setattr(chat_store, "is_incognito", lambda metadata, policy: False)
    return Histories if planted == "incognito-ignored" else ConsentHistories


@pytest.mark.parametrize("planted", sorted(EXPOSING))
def test_the_oracle_catches_a_planted_violation(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    """A test that cannot fail proves nothing: with a known bug planted in the core, the oracle must bite.

    A history known to expose the bug passes without it and fails with it, whatever ran before in
    the process (this does not depend on a search).
    """
    counted = FIGURES.histories.copy()  # planted-bug histories are not part of the figures
    machine = ConsentHistories if planted != "incognito-ignored" else Histories
    replay(machine, deployment, EXPOSING[planted])  # without the bug, the history passes
    deployment.reset()
    plant(planted, monkeypatch)
    with pytest.raises(AssertionError):
        replay(machine, deployment, EXPOSING[planted])
    FIGURES.histories = counted


@pytest.mark.skipif(PROFILE != "nightly", reason="nightly (make test-nightly): see the docstring")
@pytest.mark.parametrize("planted", sorted(EXPOSING))
def test_the_search_finds_a_planted_violation(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    """The generated histories find each planted bug by themselves (derandomized, moto's identifiers seeded
    per history).

    Nightly only: in the whole suite under xdist, the search missed `retag-ignores-consent` in 150
    histories after other modules had run in the same worker, while it finds it alone, after this
    module and under CPU load. The oracle's bite is checked in CI by the exposing histories above;
    what in the worker's earlier state changes the search is not yet known.
    """
    counted = FIGURES.histories.copy()
    searched = seeded(plant(planted, monkeypatch))
    searched.deployment = deployment
    with pytest.raises(AssertionError):
        run_state_machine_as_test(
            searched,
            settings=settings(
                max_examples=150,
                stateful_step_count=14,
                phases=[Phase.generate],
                database=None,
                derandomize=True,  # the same histories every run: whether the oracle bites must not be luck
                report_multiple_bugs=False,
            ),
        )
    FIGURES.histories = counted
