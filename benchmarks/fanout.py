"""The critical path of a large retag through the work queue, in API calls, with W workers.

A retag is a chain of work messages, one page of the user's ledger each; a
message enqueues its successor after its first calls (the ledger Query and the
SendMessageBatch), then settles its page. Time is counted in API calls, each
taken as one unit, and a hop through SQS to the next Lambda invocation as
`hop` units; W workers (Lambda concurrency) take messages as they become
visible. The profile of each message (calls before the enqueue, calls in all)
is the one measured on the real handler.

The sequential baseline is one loop that queries the pages one after another
and settles each: the same calls without the SendMessageBatch, one at a time.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    enqueue_at: int  # calls made up to and including the enqueue of the successor
    total: int  # calls made by the message
    sends: int = 1  # of which SendMessageBatch (absent from a sequential loop)


def chain(pages: int, full: Profile, last: Profile) -> list[Profile]:
    """The messages of a retag of `pages` pages: all full but the last."""
    return [full] * (pages - 1) + [last]


def critical_path(messages: Sequence[Profile], workers: int, hop: int = 0) -> int:
    """Units from the first message's arrival to the end of the last settled page."""
    free = [0] * workers  # when each worker is next idle
    heapq.heapify(free)
    visible = 0
    end = 0
    for message in messages:
        start = max(visible, heapq.heappop(free))
        finish = start + message.total
        heapq.heappush(free, finish)
        end = max(end, finish)
        visible = start + message.enqueue_at + hop
    return end


def sequential(messages: Sequence[Profile]) -> int:
    return sum(m.total - m.sends for m in messages)


@dataclass(frozen=True)
class FanOut:
    chats: int
    pages: int
    workers: int
    hop: int
    sequential: int
    parallel: int

    @property
    def speedup(self) -> float:
        return self.sequential / self.parallel


def fan_out(chats: int, page: int, full: Profile, last: Profile, workers: int, hop: int) -> FanOut:
    pages = -(-chats // page)
    messages = chain(pages, full, last)
    return FanOut(chats, pages, workers, hop, sequential(messages), critical_path(messages, workers, hop))
